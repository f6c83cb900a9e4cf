"""Page speed as the user sees it: the time until each dashboard page is fully drawn in headless Chromium.

    python bench/page_draw.py                          # the demo, as `sync-core up` builds it
    python bench/page_draw.py --year                   # a year of history over 1M contacts (bench/page_speed.py's)
    python bench/page_draw.py --year --contacts 20000 --days 30 --loads 3    # a quick look
    python bench/page_draw.py --base /tmp/base       # also a baseline checkout's dashboard, loads interleaved
    python bench/page_draw.py --floor                # also an empty Streamlit page: what any page costs
    python bench/page_draw.py --year --heartbeats    # as with a worker beside the dashboard: its heartbeats write

Each page is opened in a new browser tab (a new Streamlit session) once "first" (right after the server started:
imports, caches empty) and then --loads times "warm", each time twice: in a new browser context (nothing in the
browser's cache: a first visit, the frontend downloaded and compiled again) and in a new tab of one context that
keeps its cache (as a user's browser does for a new tab or a reload: Streamlit serves its hashed bundles as
immutable); and, in one tab, reached --loads times by a click on its link in the sidebar, as a user moves around
the app (no new session, the frontend already loaded). A page counts as fully drawn at its last change to the
page's DOM (a MutationObserver records the time of each change, from the navigation's start; not the content of a
<canvas>, which is never drawn: the data grid's accessibility table, updated 0.3 s after the grid), once its script has
stopped (no status widget), no element is still a skeleton, it has its heading, and nothing has changed for
QUIET seconds. The server's CPU per load is the Streamlit process's user + system time over the load. Printed:
one table, the medians, and whether every page is drawn within --budget seconds (warm median).

The browser's busy
time is the sum of its main thread's long tasks (over 50 ms) during the load: parsing scripts, drawing. Its main
thread's time is every task's, long or short (Chromium's TaskDuration, read through the DevTools protocol when the
page is drawn): the steadier figure on a loaded machine, where the wall time also waits for the other processes.

With --base DIR (a checkout of another commit, e.g. `git worktree add /tmp/base main`), that checkout's app.py is
served too, by a second Streamlit on the same workspace (its own sync_core on PYTHONPATH), and every load alternates
between the two, so both are measured under the same load of the machine; the table then has both and their ratio.
With --heartbeats (for --year: the demo has its worker), the benchmark writes a worker's heartbeat to the state
store every WORKER_BEAT_SECONDS, as an idle `sync-core worker` does, without running any schedule.
With --floor, an app whose only element is a title is served too and measured the same way, interleaved: the
floor no page of a Streamlit app can go under on this machine.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from sync_core import StateStore
from sync_core.state.run_queue import WORKER_BEAT_SECONDS

from bench_common import ROOT, free_port, print_table, stop, wait_for_http
from page_speed import generate  # the same year of history

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
QUIET = 1.5  # seconds without a DOM change after which a settled page is taken as drawn
TICKS = os.sysconf("SC_CLK_TCK")
# Records when the DOM last changed, in ms since the navigation started (performance.now()'s origin). Not a change
# of a <canvas> element's content: that is fallback content a browser never draws (the data grid keeps an
# accessibility table there and updates it about 0.3 s after the grid is drawn). A canvas's own size still counts.
OBSERVE = """
window.__lastChange = 0;
const drawn = m => {
  const node = m.target.nodeType === 1 ? m.target : m.target.parentElement;
  return !(node && node.closest("canvas") && (m.type !== "attributes" || node.nodeName !== "CANVAS"));
};
new MutationObserver(list => { if (list.some(drawn)) window.__lastChange = performance.now(); })
  .observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
window.__busy = 0;  // ms of the main thread's long tasks
new PerformanceObserver(list => { for (const e of list.getEntries()) window.__busy += e.duration; })
  .observe({type: "longtask", buffered: true});
"""
VIEWPORT = {"width": 1440, "height": 1600}
BUSY = '[data-testid="stStatusWidget"], [data-testid="stSkeleton"]'
DRAWN = '[data-testid="stMain"] [data-testid="stHeading"]'


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its reaped children, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / TICKS  # utime, stime, cutime, cstime


class Served:
    """The dashboard (and what it needs) for a workspace: `sync-core up` for the demo, else the workspace's
    sandboxes and Streamlit on it."""

    def __init__(self, root: Path, *, demo: bool):
        self.root, self.port = root, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.children: list[subprocess.Popen] = []
        cli = [sys.executable, "-m", "sync_core.cli", "-w", str(root)]
        if demo:
            self._start(cli + ["up", "--port", str(self.port), "--sandbox-port", str(free_port())])
        else:
            self._start(cli + ["sandbox"])  # the Overview asks Marketo's sandbox for its quota
            self.dashboard(ROOT, self.port)

    def dashboard(self, checkout: Path, port: int) -> str:
        """Streamlit on checkout's app.py (and its sync_core) over this workspace; returns its URL."""
        return self.streamlit(checkout / "app.py", checkout, port)

    def streamlit(self, script: Path, checkout: Path, port: int) -> str:
        """Streamlit on a script, from checkout (its .streamlit/config.toml, its sync_core); returns its URL."""
        env = {**os.environ, "PYTHONPATH": str(checkout)}
        self._start([sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
                     "--server.port", str(port), "--browser.gatherUsageStats", "false", "--",
                     "--workspace", str(self.root)], cwd=checkout, env=env)
        return f"http://127.0.0.1:{port}"

    def _start(self, argv: list[str], cwd: Path | None = None, env: dict | None = None) -> None:
        self.children.append(subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL, start_new_session=True))

    def wait(self, timeout: float, url: str | None = None) -> None:
        wait_for_http(f"{url or self.url}/_stcore/health", "the dashboard (or a sandbox)", timeout=timeout,
                      processes=self.children, every=1)

    def streamlit_pid(self, url: str | None = None) -> int:
        """Streamlit's process (under `up`, a child of the launcher): the one started with the URL's port."""
        port = (url or self.url).rsplit(":", 1)[1]
        for proc in Path("/proc").iterdir():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0") if proc.name.isdigit() else []
            except OSError:
                continue
            if b"streamlit" in argv and b"--server.port" in argv and port.encode() in argv:
                return int(proc.name)
        raise SystemExit("cannot find the Streamlit process")

    def stop(self) -> None:
        for child in reversed(self.children):
            # SIGTERM, not SIGINT: a job started with `&` ignores SIGINT, and then `up` would be killed at the
            # timeout without stopping its worker and sandbox (sessions of their own). It stops them on SIGTERM.
            stop(child, sig=signal.SIGTERM, timeout=120)


def settled(page, what: str, timeout: float = 90) -> float:
    """Wait until the page is drawn (module doc); the time of its last change, in seconds of performance.now()."""
    deadline = time.monotonic() + timeout
    while True:
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} was not drawn within {timeout:.0f} s: " + page.inner_text("body")[:300])
        done = page.locator(BUSY).count() == 0 and page.locator(DRAWN).count() > 0
        if done and page.evaluate("performance.now() - window.__lastChange") / 1000 >= QUIET:
            if page.locator('[data-testid="stException"]').count():
                raise SystemExit(f"{what} shows an exception: " + page.inner_text("body")[:1000])
            return page.evaluate("window.__lastChange") / 1000
        page.wait_for_timeout(100)


def tab(opener):
    """A new tab of a browser (in a context of its own) or of a context (created with VIEWPORT)."""
    return opener.new_page(viewport=VIEWPORT) if hasattr(opener, "new_context") else opener.new_page()


SCRIPTS = ("performance.getEntriesByType('resource').filter(e => e.name.endsWith('.js'))"
           ".reduce((sum, e) => sum + e.decodedBodySize, 0) / 1024")


def load(opener, url: str) -> tuple[float, float, float, float]:
    """Open url in a new tab of `opener` (a browser: a new context each time; or a context: its cache kept);
    seconds from the navigation's start to the page's last change, the seconds the browser's main thread was
    busy in long tasks until then, the seconds of all its tasks (module doc), and the kB of scripts the page ran
    (fetched or read from the cache)."""
    page = tab(opener)
    try:
        devtools = page.context.new_cdp_session(page)
        devtools.send("Performance.enable", {"timeDomain": "threadTicks"})
        page.add_init_script(OBSERVE)
        page.goto(url)
        drawn = settled(page, url)
        metrics = {m["name"]: m["value"] for m in devtools.send("Performance.getMetrics")["metrics"]}
        devtools.detach()
        return drawn, page.evaluate("window.__busy") / 1000, metrics["TaskDuration"], page.evaluate(SCRIPTS)
    finally:
        page.close()


def switches(opener, url: str, titles: list[str], rounds: int) -> dict[str, list[float]]:
    """In one tab, as a user moves around the app: seconds from a click on a page's link in the sidebar to that
    page's last change, `rounds` times per page, the pages taken in turn."""
    page = tab(opener)
    times: dict[str, list[float]] = {title: [] for title in titles}
    try:
        page.add_init_script(OBSERVE)
        page.goto(url)
        settled(page, url)
        for _ in range(rounds):
            for title in titles:
                link = page.locator('[data-testid="stSidebarNavLink"]', has_text=title).first
                # From the click: a change before it is not this page's (a page that changes nothing counts 0)
                clicked = page.evaluate("window.__lastChange = performance.now()") / 1000
                link.click()
                times[title].append(settled(page, title) - clicked)
    finally:
        page.close()
    return times


def pages(root: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(f"file:{root / '.sync-state' / 'state.sqlite'}?mode=ro", uri=True) as db:
        last = db.execute("SELECT MAX(id) FROM runs").fetchone()[0]
    return [("Overview", "/"), ("Run history", "/runs"), ("Syncs", "/syncs"), ("MQR", "/mqr"),
            ("Run details", f"/run?run={last}"), ("Failed rows, now", "/failed_rows"),
            ("Failed rows, one run", f"/failed_rows?run={last}"), ("Reconciliation", "/reconciliation")]


FLOOR = "An empty page (floor)"
FLOOR_APP = 'import streamlit as st\n\nst.title("An empty page")\n'


class Heartbeats:
    """An idle worker's writes to the state store (its heartbeat), in a thread, until stopped."""

    def __init__(self, root: Path):
        self.store = StateStore(root / ".sync-state" / "state.sqlite")
        self.worker = self.store.register_worker(1)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="heartbeats", daemon=True)
        self.thread.start()

    def _beat(self) -> None:
        with StateStore(self.store.path) as store:  # a connection of this thread's own
            while not self.stopped.wait(WORKER_BEAT_SECONDS):
                store.worker_heartbeat(self.worker)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()
        self.store.stop_worker(self.worker)
        self.store.close()


def measure(opener, url: str, pid: int) -> tuple[float, float, float, float, float]:
    """One load: (seconds until drawn, seconds the browser was busy in long tasks, the server's CPU seconds over the
    load, seconds of the browser's main-thread tasks, kB of scripts)."""
    before = cpu_seconds(pid)
    drawn, busy, main_thread, scripts = load(opener, url)
    return drawn, busy, cpu_seconds(pid) - before, main_thread, scripts


def medians(loads: list[tuple[float, ...]]) -> list[float]:
    return [statistics.median(load[i] for load in loads) for i in range(len(loads[0]))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--year", action="store_true", help="a generated year of history instead of the demo")
    parser.add_argument("--contacts", type=int, default=1_000_000, help="with --year")
    parser.add_argument("--days", type=int, default=365, help="with --year")
    parser.add_argument("--loads", type=int, default=5, help="warm loads per page (the median is reported)")
    parser.add_argument("--budget", type=float, default=2.0, help="seconds a page's warm median may take")
    parser.add_argument("--base", type=Path, help="a checkout of another commit, measured side by side")
    parser.add_argument("--floor", action="store_true", help="also an empty Streamlit page, interleaved")
    parser.add_argument("--heartbeats", action="store_true", help="write an idle worker's heartbeats meanwhile")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "sync-core-page-speed")
    parser.add_argument("--pages", help="measure only the pages whose name starts with one of these, comma-separated "
                                        "(e.g. 'Run history,Failed rows'); default: every page")
    args = parser.parse_args(argv)

    if args.year:
        root = generate(args.workdir, args.contacts, args.days)
    else:
        root = Path(tempfile.mkdtemp(prefix="page-draw-")) / "demo-workspace"
    served = Served(root, demo=not args.year)
    beats = None
    try:
        served.wait(timeout=900)
        beats = Heartbeats(root) if args.heartbeats else None
        variants = {"this": served.url}
        if args.base:
            variants["base"] = served.dashboard(args.base.resolve(), free_port())
            served.wait(timeout=300, url=variants["base"])
        floor = None
        if args.floor:  # beside the app, so that the project's .streamlit/config.toml applies to it too
            script = Path(tempfile.mkdtemp(prefix="page-floor-")) / "floor.py"
            script.write_text(FLOOR_APP)
            floor = served.streamlit(script, ROOT, free_port())
            served.wait(timeout=300, url=floor)
        pids = {url: served.streamlit_pid(url) for url in [*variants.values(), *([floor] if floor else [])]}
        print(f"{'Year of history: ' + str(root) if args.year else 'The demo (sync-core up)'}; load average "
              f"{os.getloadavg()[0]:.1f}; {args.loads} warm loads a page"
              + (f"; this checkout against {args.base}, loads interleaved" if args.base else "")
              + (f"; a worker's heartbeat written every {WORKER_BEAT_SECONDS} s" if beats else ""), flush=True)
        # results[variant][page] = (first load, [empty-cache loads], [cache-kept loads])
        results: dict[str, dict[str, tuple]] = {name: {} for name in variants}
        clicks: dict[str, dict[str, list[float]]] = {}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            kept = {url: browser.new_context(viewport=VIEWPORT) for url in pids}  # per server, its cache kept
            titles = ["Run history", "Syncs", "MQR", "Failed rows", "Reconciliation", "Overview"]
            for name, url in variants.items():
                clicks[name] = switches(kept[url], url, titles, args.loads)  # also fills that context's cache
            wanted = [w.strip().lower() for w in args.pages.split(",")] if args.pages else None
            rows = [(label, path) for label, path in pages(root)
                    if wanted is None or any(label.lower().startswith(w) for w in wanted)]
            rows += [(FLOOR, "/")] if floor else []
            for label, path in rows:
                urls = {"this": floor} if label == FLOOR else variants
                if label == FLOOR:
                    load(kept[floor], floor)  # its cache filled, as the app's was by the clicks
                firsts = {name: load(browser, url + path)[0] for name, url in urls.items()}
                empty: dict[str, list] = {name: [] for name in urls}
                cached: dict[str, list] = {name: [] for name in urls}
                for _ in range(args.loads):
                    for name, url in urls.items():  # interleaved: every variant sees the same load of the machine
                        empty[name].append(measure(browser, url + path, pids[url]))
                        cached[name].append(measure(kept[url], url + path, pids[url]))
                for name in urls:
                    results.setdefault(name, {})[label] = (firsts[name], empty[name], cached[name])
                print(f"  {label}: " + "; ".join(f"{name} first {firsts[name]:.2f} s, warm median "
                                                 f"{medians(empty[name])[0]:.2f} s (cache kept "
                                                 f"{medians(cached[name])[0]:.2f} s)" for name in urls), flush=True)
            browser.close()
        print(f"Load average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        if beats is not None:
            beats.stop()
        served.stop()
    for name in variants:
        print(f"\n{name}{' (' + str(args.base) + ')' if name == 'base' else ''}:\n")
        print_table(["page", "first load (s)", "new tab, empty cache: median (s)", "max (s)", "browser busy (s)",
                     "main thread (s)", "server CPU (s)", "new tab, cache kept: median (s)", "max (s)",
                     "browser busy (s)", "main thread (s)", "server CPU (s)", "scripts (kB)"],
                    [[label, f"{first:.2f}", *_cells(empty), *_cells(cached), f"{medians(cached)[4]:,.0f}"]
                     for label, (first, empty, cached) in results[name].items()])
        print("\nIn one tab, from a click on the page's link in the sidebar to its last change:\n")
        print_table(["page", "median (s)", "max (s)"],
                    [[title, f"{statistics.median(took):.2f}", f"{max(took):.2f}"]
                     for title, took in clicks[name].items()])
    if args.base:
        print("\nThis checkout against the base, warm medians (ratio < 1: faster):\n")
        print_table(["page", "empty cache: this (s)", "base (s)", "ratio", "cache kept: this (s)", "base (s)",
                     "ratio", "main thread, empty cache: this / base (s)", "cache kept: this / base (s)",
                     "server CPU, empty cache: this / base (s)", "cache kept: this / base (s)"],
                    [[label, *_versus(results["this"][label][1], results["base"][label][1]),
                      *_versus(results["this"][label][2], results["base"][label][2]),
                      *[f"{medians(results['this'][label][mode])[i]:.2f} / {medians(results['base'][label][mode])[i]:.2f}"
                        for i in (3, 2) for mode in (1, 2)]]
                     for label in results["base"]])
    ours = {label: value for label, value in results["this"].items() if label != FLOOR}
    for mode, index in (("empty cache", 1), ("cache kept", 2)):
        slow = [label for label, value in ours.items() if medians(value[index])[0] > args.budget]
        print(f"Every page drawn within {args.budget:g} s (warm median, new tab, {mode}): "
              f"{'yes' if not slow else 'NO: ' + ', '.join(slow)}")
    return 1 if any(medians(value[1])[0] > args.budget for value in ours.values()) else 0


def _cells(loads: list[tuple[float, ...]]) -> list[str]:
    drawn, busy, cpu, main_thread, _ = medians(loads)
    return [f"{drawn:.2f}", f"{max(load[0] for load in loads):.2f}", f"{busy:.2f}", f"{main_thread:.2f}",
            f"{cpu:.2f}"]


def _versus(this: list, base: list) -> list[str]:
    a, b = medians(this)[0], medians(base)[0]
    return [f"{a:.2f}", f"{b:.2f}", f"{a / b:.2f}"]


if __name__ == "__main__":
    sys.exit(main())
