"""The dashboard in a real browser: Debian's chromium through playwright, on an app started by the README's main
command (`sync-core up`). Every page renders without an exception element and shows data; one screenshot per page
is saved under test-artifacts/browser/, and Run now is clicked on the Syncs page. A missing chromium fails this test: CI installs it (.ci/run)."""

from __future__ import annotations

import csv
import io
import json
import ipaddress
import os
import queue
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, sync_playwright

from demo_helpers import sandbox_port
from sync_core import load_workspace

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "test-artifacts")) / "browser"
STOP_BOUND = 150  # s: up's stop waits up to 10 s for the dashboard, 90 for the worker, 10 for the sandbox
DAYS = 2  # two days of the three syncs: six exports, so the history waits once for Iterable's 4 a minute


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Launched:
    def __init__(self, root: Path, port: int, sandbox_port: int):
        self.root, self.port, self.sandbox_port = root, port, sandbox_port
        self.url = f"http://127.0.0.1:{port}"
        self.lines: list[str] = []
        self._queue: queue.Queue = queue.Queue()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sync_core.cli", "-w", str(root), "up", "--contacts", "1500", "--days", str(DAYS),
             "--port", str(port), "--sandbox-port", str(sandbox_port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError("sync-core up exited:\n" + "\n".join(self.lines))
            self.lines.append(line)
            if text in line:
                return
        raise AssertionError(f"no {text!r} within {timeout} s:\n" + "\n".join(self.lines))

    def sql(self, query: str, args=()) -> list[tuple]:
        with sqlite3.connect(f"file:{self.root / '.sync-state' / 'state.sqlite'}?mode=ro", uri=True) as db:
            return db.execute(query, args).fetchall()


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    app = Launched(tmp_path_factory.mktemp("browser") / "demo-workspace", free_port(), sandbox_port())
    try:
        app.wait_for("Dashboard ready", timeout=180)
        yield app
    finally:
        if app.process.poll() is None:
            app.process.send_signal(signal.SIGINT)
            try:
                app.process.wait(timeout=STOP_BOUND)
            except subprocess.TimeoutExpired:
                os.killpg(app.process.pid, signal.SIGKILL)
        for line in processes_naming(app.root):  # the worker and the sandbox have sessions of their own
            os.kill(int(line.split(":")[0]), signal.SIGKILL)


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def settle(page: Page, timeout: float = 60) -> None:
    """Wait until the page has content, its script has stopped running and every element has drawn (no
    skeletons), three checks in a row: a page that reruns through app.py stops and starts again."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout * 1000)
    deadline, calm = time.monotonic() + timeout, 0
    while calm < 3:
        busy = page.locator('[data-testid="stStatusWidget"], [data-testid="stSkeleton"]').count()
        drawn = page.locator('[data-testid="stMain"] [data-testid="stHeading"]').count()
        assert time.monotonic() < deadline, f"the page did not settle: {busy} busy, {drawn} headings, " + \
            page.inner_text("body")[:500]
        calm = calm + 1 if drawn and not busy else 0
        page.wait_for_timeout(500)


WIDTH = 1440  # a laptop's screen, as in the walkthrough of issue #12


def open_page(browser, launched, path: str, name: str, scheme: str = "light") -> Page:
    """The page at WIDTH px in a browser that prefers `scheme`; it must fetch nothing from outside this machine
    (the dashboard works offline)."""
    page = browser.new_page(viewport={"width": WIDTH, "height": 1600}, accept_downloads=True, color_scheme=scheme)
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if r.url.startswith("http") and not r.url.startswith(
        launched.url) else None)
    page.goto(launched.url + path)
    settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0, page.inner_text("body")[:2000]
    assert outside == [], f"fetched from outside: {outside}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 60_000  # a page with charts and tables (a blank one is about 20 kB)
    return page


def test_the_main_command_builds_dated_history_and_a_scaled_demo(launched):
    assert any(line.startswith(f"Day {DAYS} of {DAYS}") for line in launched.lines)
    assert any(line.startswith("History ready") for line in launched.lines)
    started = [datetime.fromisoformat(s).date() for (s,) in launched.sql("SELECT started_at FROM runs ORDER BY id")]
    today = datetime.now(timezone.utc).date()
    syncs = len(load_workspace(launched.root).syncs)
    assert started == [today - timedelta(days=1)] * syncs + [today] * syncs  # each simulated day, its own date
    marketo = launched.sql("SELECT status FROM runs WHERE sync_id = 'marketo-activities'")
    assert [status for (status,) in marketo] == ["warning", "warning"]  # as the others: the demo's invalid keys
    assert load_workspace(launched.root).mqr.limit == 2_000  # 1.5 per contact, rounded (README, "Demo size")
    assert requests.get(f"http://127.0.0.1:{launched.sandbox_port}/_sandbox/health", timeout=5).ok
    assert requests.get(f"http://127.0.0.1:{launched.sandbox_port + 1}/_sandbox/health", timeout=5).ok  # Marketo
    # Without sign-in whoever reaches the dashboard may run syncs: it listens on loopback only, as the sandboxes do
    for port in (launched.port, launched.sandbox_port, launched.sandbox_port + 1):
        assert listening_addresses(port) == {"127.0.0.1"}, port


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the sockets listening on `port` (Linux's /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    raw = bytes.fromhex(address)
                    # IPv4 in little-endian 32-bit words; IPv6 as four such words
                    words = [raw[i:i + 4][::-1] for i in range(0, len(raw), 4)]
                    found.add(str(ipaddress.ip_address(b"".join(words))))
    return found


def test_a_deep_link_to_a_run_opens_its_view_in_the_frame(browser, launched):
    """Opened first, on a fresh server: Streamlit's legacy pages/ mode must not show the page without the app."""
    run_id = launched.sql("SELECT MAX(id) FROM runs")[0][0]
    page = open_page(browser, launched, f"/run?run={run_id}", "run")
    body = page.inner_text("body")
    assert f"Run {run_id}:" in body and body.count("✓") == 3  # the three identities hold
    assert "Run history" in body and "Failed rows" in body and "Demo: marketing contacts" in body
    assert "chosen by the --workspace argument" in body
    [(phases,)] = launched.sql("SELECT phases FROM runs WHERE id = ?", (run_id,))
    assert drawn_bars(page, "phases") == json.loads(phases)  # HTML bars, each the run's own seconds
    assert overflowing_tables(page) == []


def overflowing_tables(page: Page) -> list[int]:
    """The tables whose columns are wider than the table: they would need a horizontal scroll (glide's
    scroller is the grid's one scrolling element)."""
    return page.evaluate("""() => [...document.querySelectorAll('[data-testid="stDataFrame"]')]
        .map((table, i) => [i, table.querySelector('.dvn-scroller')])
        .filter(([i, s]) => s && s.scrollWidth > s.clientWidth + 1).map(([i]) => i)""")


def test_the_overview_and_the_mqr_page(browser, launched):
    """The business owner's pages: the app opens on the Overview; MQR has its gauge and series."""
    # `up` starts the demo's billing period on its history's first day: the whole history is this period's (the
    # day before, if UTC midnight passed between writing the workspace and the first run)
    [(periods, start, used)] = launched.sql("SELECT COUNT(DISTINCT period_start), MIN(period_start), SUM(used) "
                                            "FROM mqr_totals")
    first_run = date.fromisoformat(launched.sql("SELECT substr(MIN(started_at), 1, 10) FROM runs")[0][0])
    assert periods == 1 and first_run - timedelta(days=1) <= date.fromisoformat(start) <= first_run
    page = open_page(browser, launched, "/", "overview")
    body = page.inner_text("body")
    assert "Needs action" in body and "MQR this period" in body and "Iterable-Production" in body
    assert gauge_used(page) == used  # the gauge: HTML, drawn with the period's figure
    page = open_page(browser, launched, "/mqr", "mqr")
    body = page.inner_text("body")
    assert f"{used:,}" in body and "demo scale" in body and "Method:" in body
    assert gauge_used(page) == used
    assert page.locator('[data-testid="stVegaLiteChart"] svg').count() == 1  # day by day
    synced = launched.sql("SELECT COUNT(DISTINCT sync_id) FROM runs")[0][0]
    assert len(drawn_bars(page, "mqr_by_sync")) == synced  # by sync: a bar per sync that queried records


def drawn_bars(page: Page, chart: str) -> dict:
    """An HTML bar chart's bars as drawn (ui/bars.py): {label: value}, from the attributes each bar carries."""
    figure = page.locator(f'figure[data-chart="{chart}"]')
    assert figure.is_visible()
    return {label: json.loads(value) for label, value in figure.evaluate(
        "f => [...f.querySelectorAll('[data-label]')].map(e => [e.dataset.label, e.dataset.value])")}


def gauge_used(page: Page) -> int:
    """The MQR gauge's figure as drawn (ui/bars.py), once it is visible."""
    gauge = page.locator('figure[data-chart="mqr_gauge"]')
    assert gauge.is_visible() and gauge.bounding_box()["height"] > 40
    return int(gauge.get_attribute("data-used"))


def test_run_history_shows_the_runs(browser, launched):
    page = open_page(browser, launched, "/runs", "runs")
    # The timeline (HTML): a column per run, each drawn with its bar and its dot
    runs = launched.sql("SELECT COUNT(*) FROM runs")[0][0]
    columns = page.locator('figure[data-chart="runs_timeline"] [data-run]')
    assert columns.count() == runs
    assert all(bar.bounding_box()["height"] > 5 for bar in columns.locator('[data-part="left out as expected"]').all())
    assert page.locator('figure[data-chart="runs_timeline"] .rt-dot').count() == runs
    assert page.locator('[data-testid="stDataFrame"]').count() == 1
    body = page.inner_text("body")
    assert "Iterable-Production" in body and "WARNING" not in body  # a sentence, not a word in capitals
    assert "with data problems" in body and "new since the last run" in body
    assert "MQR this period (demo scale)" in body and "of 2,000" in body  # the scaled limit, said so
    assert overflowing_tables(page) == []
    assert page.locator('link[rel*="icon"]').first.get_attribute("href").startswith("data:image/svg+xml")


def background(page: Page) -> float:
    """The app's background lightness, 0 (black) to 1 (white)."""
    return lightness(page, '[data-testid="stApp"]', "backgroundColor")


def lightness(page: Page, selector: str, colour: str) -> float:
    """The lightness of an element's colour (a computed style's name), 0 (black) to 1 (white)."""
    rgb = page.locator(selector).first.evaluate(
        f"e => getComputedStyle(e).{colour}.match(/\\d+/g).slice(0, 3).map(Number)")
    return sum(rgb) / 765


def test_the_browsers_dark_preference_applies(browser, launched):
    """The theme follows the browser: dark when it prefers dark, light otherwise, with the charts drawn."""
    dark = open_page(browser, launched, "/", "runs_dark", scheme="dark")
    assert background(dark) < 0.2
    assert gauge_used(dark) > 0 and lightness(dark, 'figure[data-chart="mqr_gauge"]', "color") > 0.7  # its text
    runs = open_page(browser, launched, "/runs", "runs_dark_chart", scheme="dark")
    assert lightness(runs, 'figure[data-chart="runs_timeline"]', "color") > 0.7  # its text, on the dark theme
    assert background(open_page(browser, launched, "/syncs", "syncs_light")) > 0.9

def test_failed_rows_with_a_cause_and_its_csv(browser, launched):
    run_id = launched.sql("SELECT MAX(id) FROM runs WHERE sync_id = 'iterable-production'")[0][0]
    [(cause_id, rows)] = launched.sql("SELECT rc.cause_id, rc.rows FROM run_causes rc JOIN causes c ON "
                                      "c.id = rc.cause_id WHERE rc.run_id = ? AND c.code = 'NotFound'", (run_id,))
    page = open_page(browser, launched, f"/failed_rows?run={run_id}&cause={cause_id}", "failed_rows")
    body = page.inner_text("body")
    assert f"Expected (in run {run_id})" in body and f"{rows:,}" in body
    # The cause's rows come right under the cause tables, within the first screen and a half, above the charts;
    # no table needs a horizontal scroll.
    tables = page.locator('[data-testid="stDataFrame"]')
    assert tables.count() == 3 and tables.nth(2).bounding_box()["y"] < 1350
    charts = page.locator('[data-testid="stExpander"]')
    assert charts.bounding_box()["y"] > tables.nth(2).bounding_box()["y"]
    assert overflowing_tables(page) == []
    charts.get_by_text("Rows per day of each cause").click()
    page.locator('[data-testid="stVegaLiteChart"] svg').nth(1).wait_for(timeout=10_000)
    assert page.locator('[data-testid="stVegaLiteChart"]').count() == 2  # real and expected trends
    charts.screenshot(path=str(ARTIFACTS / "failed_rows_charts.png"))  # below the page's first 1,600 px
    for chart in page.locator('[data-testid="stVegaLiteChart"]').all():  # each y-axis starts at zero
        assert "values from 0 to" in chart.locator('[aria-label^="Y-axis"]').first.get_attribute("aria-label")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download all").click()
    table = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    keys = {k for (k,) in launched.sql("SELECT key FROM rejection_state WHERE cause_id = ? AND sync_id = "
                                       "'iterable-production' AND first_run_id <= ? AND last_run_id >= ?",
                                       (cause_id, run_id, run_id))}
    assert {r["key"] for r in table} == keys and len(table) == len(keys) == rows
    assert all(r["message"].startswith("No record was found with lookup for email:") for r in table)


def test_a_records_story_fits_the_screen(browser, launched):
    """One record found by the search: where it stands, and the runs that cite it, without a horizontal scroll."""
    [(examples,)] = launched.sql("SELECT rc.example_keys FROM run_causes rc JOIN causes c ON c.id = rc.cause_id "
                                 "WHERE c.code = 'NotFound' ORDER BY rc.run_id DESC LIMIT 1")
    key = json.loads(examples)[0]
    page = open_page(browser, launched, f"/failed_rows?key={key}", "failed_rows_record")
    assert "Not synced now" in page.inner_text("body") and "Runs that cite it" in page.inner_text("body")
    assert overflowing_tables(page) == []


def test_run_now_shows_the_run_in_progress_then_how_it_ended(browser, launched):
    """The technical owner's click: Run now on the demo's sync, its progress as it runs, then its status. The run
    is done by the worker `sync-core up` started; screenshots of both states are saved."""
    before = launched.sql("SELECT COALESCE(MAX(id), 0) FROM runs")[0][0]
    page = open_page(browser, launched, "/syncs?sync=iterable-production", "syncs")
    assert "No worker is running" not in page.inner_text("body")
    # The run's export of who exists answers after 30 s (a fault added to the running sandbox, as a user can):
    # the run stays in progress long enough to be seen, however busy the machine.
    fault = subprocess.run([sys.executable, "-m", "sync_core.cli", "-w", str(launched.root), "sandbox", "--name", "iterable", "--fault",
                            "export/data.json:slow:delay=30,times=1", "--no-serve"], capture_output=True, text=True)
    assert fault.returncode == 0, fault.stderr
    page.locator('button:has-text("Run now")').click()
    page.locator('button:has-text("Confirm")').click()
    page.get_by_text(f"Run {before + 1} in progress").wait_for(timeout=120_000)
    page.screenshot(path=str(ARTIFACTS / "syncs_running.png"), full_page=True)
    page.get_by_text(f"Latest run {before + 1}").wait_for(timeout=240_000)  # redrawn by itself, no reload
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "syncs_finished.png"), full_page=True)
    [(status, trigger, by)] = launched.sql("SELECT status, trigger, requested_by FROM runs WHERE id = ?", (before + 1,))
    assert (trigger, by) == ("dashboard", "dashboard") and status in ("healthy", "warning")
    assert status in page.locator('[data-testid="stMain"]').inner_text()
    assert page.locator('[data-testid="stException"]').count() == 0


def processes_naming(root: Path) -> list[str]:
    """The command lines of live processes that name the workspace: the dashboard, the worker, the sandbox."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode() if proc.name.isdigit() else ""
        except OSError:  # it ended as we looked
            continue
        if str(root) in command:
            found.append(f"{proc.name}: {command}")
    return found


def test_ctrl_c_stops_the_dashboard_the_worker_and_the_sandbox(launched):
    assert len(processes_naming(launched.root)) >= 4, "sync-core up, its dashboard, worker and sandbox"
    launched.process.send_signal(signal.SIGINT)
    assert launched.process.wait(timeout=STOP_BOUND) == 0
    for port in (launched.port, launched.sandbox_port, launched.sandbox_port + 1):  # the dashboard, both sandboxes
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"
    assert launched.sql("SELECT COUNT(*) FROM workers WHERE stopped_at IS NULL") == [(0,)], "the worker stopped"
    assert processes_naming(launched.root) == [], "no process is left behind"
