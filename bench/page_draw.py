"""Page speed as the user sees it: the time until each dashboard page is fully drawn in headless Chromium.

    python bench/page_draw.py                          # the demo, as `sync-core up` builds it
    python bench/page_draw.py --year                   # a year of history over 1M contacts (bench/page_speed.py's)
    python bench/page_draw.py --year --contacts 20000 --days 30 --loads 3    # a quick look
    python bench/page_draw.py --base /tmp/base       # also a baseline checkout's dashboard, loads interleaved

Each page is opened in a new browser tab (a new Streamlit session) once "first" (right after the server started:
imports, caches empty) and then --loads times "warm"; and, in one tab, reached --loads times by a click on its
link in the sidebar, as a user moves around the app (no new session, the frontend already loaded). A page counts as fully drawn at its last change to the
page's DOM (a MutationObserver records the time of each change, from the navigation's start), once its script has
stopped (no status widget), no element is still a skeleton, it has its heading, and nothing has changed for
QUIET seconds. The server's CPU per load is the Streamlit process's user + system time over the load. Printed:
one table, the medians, and whether every page is drawn within --budget seconds (warm median).

Each new tab is a new browser context: nothing is in the browser's cache, as on a first visit. The browser's busy
time is the sum of its main thread's long tasks (over 50 ms) during the load: parsing scripts, drawing.

With --base DIR (a checkout of another commit, e.g. `git worktree add /tmp/base main`), that checkout's app.py is
served too, by a second Streamlit on the same workspace (its own sync_core on PYTHONPATH), and every load alternates
between the two, so both are measured under the same load of the machine; the table then has both and their ratio.
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
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from bench_common import ROOT, free_port, print_table, stop, wait_for_http
from page_speed import generate  # the same year of history

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
QUIET = 1.5  # seconds without a DOM change after which a settled page is taken as drawn
TICKS = os.sysconf("SC_CLK_TCK")
# Records when the DOM last changed, in ms since the navigation started (performance.now()'s origin).
OBSERVE = """
window.__lastChange = 0;
new MutationObserver(() => { window.__lastChange = performance.now(); })
  .observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
window.__busy = 0;  // ms of the main thread's long tasks
new PerformanceObserver(list => { for (const e of list.getEntries()) window.__busy += e.duration; })
  .observe({type: "longtask", buffered: true});
"""
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
        env = {**os.environ, "PYTHONPATH": str(checkout)}
        self._start([sys.executable, "-m", "streamlit", "run", str(checkout / "app.py"), "--server.headless", "true",
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
            stop(child, sig=signal.SIGINT, timeout=60)


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


def load(browser, url: str) -> tuple[float, float]:
    """Open url in a new tab; seconds from the navigation's start to the page's last change, and the seconds the
    browser's main thread was busy in long tasks until then."""
    page = browser.new_page(viewport={"width": 1440, "height": 1600})
    try:
        page.add_init_script(OBSERVE)
        page.goto(url)
        drawn = settled(page, url)
        return drawn, page.evaluate("window.__busy") / 1000
    finally:
        page.close()


def switches(browser, url: str, titles: list[str], rounds: int) -> dict[str, list[float]]:
    """In one tab, as a user moves around the app: seconds from a click on a page's link in the sidebar to that
    page's last change, `rounds` times per page, the pages taken in turn."""
    page = browser.new_page(viewport={"width": 1440, "height": 1600})
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--year", action="store_true", help="a generated year of history instead of the demo")
    parser.add_argument("--contacts", type=int, default=1_000_000, help="with --year")
    parser.add_argument("--days", type=int, default=365, help="with --year")
    parser.add_argument("--loads", type=int, default=5, help="warm loads per page (the median is reported)")
    parser.add_argument("--budget", type=float, default=2.0, help="seconds a page's warm median may take")
    parser.add_argument("--base", type=Path, help="a checkout of another commit, measured side by side")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "sync-core-page-speed")
    args = parser.parse_args(argv)

    if args.year:
        root = generate(args.workdir, args.contacts, args.days)
    else:
        root = Path(tempfile.mkdtemp(prefix="page-draw-")) / "demo-workspace"
    served = Served(root, demo=not args.year)
    try:
        served.wait(timeout=900)
        variants = {"this": served.url}
        if args.base:
            variants["base"] = served.dashboard(args.base.resolve(), free_port())
            served.wait(timeout=300, url=variants["base"])
        pids = {name: served.streamlit_pid(url) for name, url in variants.items()}
        print(f"{'Year of history: ' + str(root) if args.year else 'The demo (sync-core up)'}; load average "
              f"{os.getloadavg()[0]:.1f}; {args.loads} warm loads a page"
              + (f"; this checkout against {args.base}, loads interleaved" if args.base else ""), flush=True)
        results: dict[str, dict[str, tuple]] = {name: {} for name in variants}
        clicks: dict[str, dict[str, list[float]]] = {}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            titles = ["Run history", "Syncs", "MQR", "Failed rows", "Reconciliation", "Overview"]
            for name, url in variants.items():
                clicks[name] = switches(browser, url, titles, args.loads)
            for label, path in pages(root):
                firsts = {name: load(browser, url + path)[0] for name, url in variants.items()}
                warm: dict[str, list[tuple[float, float, float]]] = {name: [] for name in variants}
                for _ in range(args.loads):
                    for name, url in variants.items():  # interleaved: both see the same load of the machine
                        before = cpu_seconds(pids[name])
                        drawn, busy = load(browser, url + path)
                        warm[name].append((drawn, busy, cpu_seconds(pids[name]) - before))  # the server's work
                for name in variants:
                    results[name][label] = (firsts[name], warm[name])
                print(f"  {label}: " + "; ".join(f"{name} first {firsts[name]:.2f} s, warm median "
                                                 f"{statistics.median(w[0] for w in warm[name]):.2f} s"
                                                 for name in variants), flush=True)
            browser.close()
        print(f"Load average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        served.stop()
    for name in variants:
        print(f"\n{name}{' (' + str(args.base) + ')' if name == 'base' else ''}:\n")
        print_table(["page", "first load (s)", "warm median (s)", "warm max (s)", "browser busy, median (s)",
                     "server CPU per warm load (s)"],
                    [[label, f"{first:.2f}", f"{statistics.median(w[0] for w in warm):.2f}",
                      f"{max(w[0] for w in warm):.2f}", f"{statistics.median(w[1] for w in warm):.2f}",
                      f"{statistics.median(w[2] for w in warm):.2f}"]
                     for label, (first, warm) in results[name].items()])
        print("\nIn one tab, from a click on the page's link in the sidebar to its last change:\n")
        print_table(["page", "median (s)", "max (s)"],
                    [[title, f"{statistics.median(took):.2f}", f"{max(took):.2f}"]
                     for title, took in clicks[name].items()])
    if args.base:
        print("\nThis checkout against the base, warm median of each page (ratio < 1: faster):\n")
        medians = {label: [statistics.median(w[0] for w in results[n][label][1]) for n in ("this", "base")]
                   for label in results["this"]}
        print_table(["page", "this (s)", "base (s)", "ratio"],
                    [[label, f"{this:.2f}", f"{base:.2f}", f"{this / base:.2f}"]
                     for label, (this, base) in medians.items()])
    slow = [label for label, (_, warm) in results["this"].items()
            if statistics.median(w[0] for w in warm) > args.budget]
    print(f"\nEvery page drawn within {args.budget:g} s (warm median): {'yes' if not slow else 'NO: ' + ', '.join(slow)}")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
