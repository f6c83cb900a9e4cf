"""`sync-core up`: the demo in one command. Creates the demo workspace if it is missing, gives it a few days of
dated history on its first start, starts its Iterable sandbox, a worker (the dashboard's buttons and the
schedules run through it) and the dashboard, and stops all three on Ctrl-C. A Snowflake demo (`--snowflake`)
starts its local Snowflake emulator first and stops it last."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, TextIO

import requests

from .clock import OffsetClock, SystemClock
from .config import WORKSPACE_FILE, Workspace, load_workspace
from .demo.workspace import DEFAULT_EMULATOR_PORT, advance_demo, history_period_start_day, init_demo, require_emulator
from .run_context import CancelToken
from .runner import run_sync
from .sandbox.vendors import VENDORS, vendor_named
from .snowflake_settings import HEALTH_PATH, EmulatorSettings
from .state import StateStore

APP = Path(__file__).resolve().parent.parent / "app.py"
DAY_SECONDS = 86_400
# The demo's MQR limit: 1.5 records per contact, so its usage sits at about two thirds of the limit, as a real
# plan's would. Syncing enough contacts to fill the seed's 1.5M would take far longer than the 3 minutes the
# demo may take to start (README, "Demo size").
DEMO_MQR_LIMIT_PER_CONTACT = 1.5
LONG_WAIT_SECONDS = 3  # a sleep this long is a rate-limit window: show a countdown
WORKER_STOP_SECONDS = 90  # its requests in flight finish within the destination's timeout (30 s) and a retry


def up(root: Path, *, contacts: int, days: int, port: int, sandbox_port: int, observer_factory,
       snowflake_port: int | None = None) -> int:
    """`snowflake_port`: a new demo reads its warehouse from a Snowflake emulator on that port."""
    started = time.monotonic()
    root = root.expanduser().resolve()
    _require_free_port(port, "--port")
    if not (root / WORKSPACE_FILE).exists():
        _require_free_port(sandbox_port, "--sandbox-port")
        _require_free_port(sandbox_port + 1, "--sandbox-port (plus one: the Marketo sandbox)")
        if snowflake_port is not None:
            _require_free_port(snowflake_port, "--snowflake-port")
        on = " on a local Snowflake emulator" if snowflake_port is not None else ""
        print(f"Creating the demo workspace in {root} ({contacts:,} contacts{on})...", flush=True)
        init_demo(root, contacts=contacts, sandbox_port=sandbox_port,
                  mqr_limit=max(1000, int(round(contacts * DEMO_MQR_LIMIT_PER_CONTACT, -3))),
                  billing_period_start_day=history_period_start_day(days),
                  source="duckdb" if snowflake_port is None else "snowflake",
                  emulator_port=snowflake_port or DEFAULT_EMULATOR_PORT)
    workspace = load_workspace(root)
    if snowflake_port is not None and workspace.snowflake_emulator is None:
        raise SystemExit(f"error: {root} holds a workspace without a Snowflake emulator, and --snowflake applies "
                         "to a new demo: choose a new folder with -w, or leave out --snowflake")
    children: list[subprocess.Popen] = []
    kept = Kept()
    signal.signal(signal.SIGTERM, _interrupt)  # a `kill` stops the children too, as Ctrl-C does
    try:
        if workspace.snowflake_emulator is not None:  # first, so it is stopped last: runs in flight read it
            children.append(kept.add("Snowflake emulator",
                                     lambda: _start_emulator(root, workspace.snowflake_emulator)))
        if workspace.sandboxes:
            children.append(kept.add("sandbox", lambda: _start_sandboxes(root, workspace)))
        # The dashboard starts while the history is built (it takes seconds to start, on the same cores); its output
        # is held until the history is ready, so that its address is not printed before the dashboard shows it.
        app = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
                                "--server.port", str(port), "--browser.gatherUsageStats", "false",
                                "--", "--workspace", str(root)], cwd=APP.parent, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        children.append(app)
        held = [_HeldOutput(app.stdout, sys.stdout), _HeldOutput(app.stderr, sys.stderr)]
        if workspace.sandboxes and not _has_runs(workspace):
            _build_history(workspace, days, observer_factory)
        for output in held:
            output.release()
        # Its own session, as the sandbox's: a Ctrl-C in the terminal reaches only this process, which stops the
        # worker first and waits for its requests in flight, while the sandbox still answers them (_stop). It
        # starts after the history, whose runs its schedules would otherwise start again.
        worker = kept.add("worker", lambda: subprocess.Popen(
            [sys.executable, "-m", "sync_core.cli", "-w", str(root), "worker"], start_new_session=True))
        children.insert(children.index(app), worker)  # stopped after the dashboard, before the sandbox
        _wait_for_dashboard(app, port)
        print(f"Dashboard ready after {time.monotonic() - started:.0f} s: http://localhost:{port}  "
              f"(Ctrl-C stops {_parts(workspace)})", flush=True)
        return kept.watch(app, children)
    except KeyboardInterrupt:
        print(f"\nStopping {_parts(workspace)}...", flush=True)  # Streamlit prints its own "Stopping..."
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _stop(children, patient=kept.current("worker"))


class Kept:
    """The children `up` keeps running beside the dashboard (worker, sandbox, emulator), each with how to start it
    again: one that stops (killed, crashed) is said and started again, at most once a minute, so the dashboard
    never shows runs asked for that no worker takes, or runs failing on a sandbox that is gone, without a word."""

    AGAIN_AFTER_SECONDS = 60

    def __init__(self):
        self._start: dict[str, Callable[[], subprocess.Popen]] = {}
        self._running: dict[str, subprocess.Popen] = {}
        self._restarted: dict[str, float] = {}

    def add(self, name: str, start: Callable[[], subprocess.Popen]) -> subprocess.Popen:
        self._start[name], self._running[name] = start, start()
        return self._running[name]

    def current(self, name: str) -> subprocess.Popen | None:
        return self._running.get(name)

    def watch(self, app: subprocess.Popen, children: list[subprocess.Popen], poll_seconds: float = 1.0) -> int:
        """Wait for the dashboard to end, its exit code; meanwhile start again what stopped (in `children`, in
        place, so they still stop in order)."""
        while True:
            try:
                return app.wait(timeout=poll_seconds)
            except subprocess.TimeoutExpired:
                pass
            for name, child in list(self._running.items()):
                if child.poll() is not None:
                    self._again(name, child, children)

    def _again(self, name: str, child: subprocess.Popen, children: list[subprocess.Popen]) -> None:
        del self._running[name]  # said once: a child left stopped is not reported at every look
        now = time.monotonic()
        if now - self._restarted.get(name, -self.AGAIN_AFTER_SECONDS) < self.AGAIN_AFTER_SECONDS:
            print(f"The {name} stopped again ({_how(child)}) within a minute: not starting it again. Its output "
                  "above says why; Ctrl-C, then `sync-core up` again.", flush=True)
            return
        print(f"The {name} stopped ({_how(child)}): starting it again.", flush=True)
        try:
            again = self._start[name]()
        except SystemExit as exc:  # its start's own error: a port taken meanwhile, say
            print(f"The {name} could not start again: {exc}", flush=True)
            return
        children[children.index(child)] = again
        self._running[name], self._restarted[name] = again, now


def _how(child: subprocess.Popen) -> str:
    """How a child ended: "killed by SIGKILL", "exit 1"."""
    if child.returncode < 0:
        return f"killed by {signal.Signals(-child.returncode).name}"
    return f"exit {child.returncode}"


def _parts(workspace: Workspace) -> str:
    """What `up` started, in the order it stops them: "the dashboard, the worker and the sandbox"."""
    parts = ["the dashboard", "the worker"]
    if workspace.sandboxes:
        parts.append("the sandbox" if len(workspace.sandboxes) == 1 else "the sandboxes")
    if workspace.snowflake_emulator is not None:
        parts.append("the Snowflake emulator")
    return ", ".join(parts[:-1]) + " and " + parts[-1]


class _HeldOutput:
    """A child's output stream, copied to `sink` line by line once released, and held until then."""

    def __init__(self, stream: TextIO, sink: TextIO):
        self._sink, self._held, self._released = sink, [], False
        self._lock = threading.Lock()
        threading.Thread(target=self._copy, args=(stream,), name="held-output", daemon=True).start()

    def _copy(self, stream: TextIO) -> None:
        for line in stream:
            with self._lock:  # so a line never passes those held before it
                if self._released:
                    self._sink.write(line)
                    self._sink.flush()
                else:
                    self._held.append(line)

    def release(self) -> None:
        with self._lock:
            self._released = True
            self._sink.writelines(self._held)
            self._sink.flush()
            self._held = []


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _stop(children: list[subprocess.Popen], patient: subprocess.Popen | None) -> None:
    """The dashboard, then the worker (`patient`: its runs stop after their requests in flight, recorded as
    interrupted), then the sandbox: each after the one before has exited. A second Ctrl-C (or SIGTERM) meanwhile
    hurries the stop: what still runs is killed. It never abandons one: the worker and the sandbox have sessions
    of their own, so nothing else would stop them."""
    hurried: list[int] = []
    handlers = {sig: signal.signal(sig, lambda signum, frame: hurried.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for child in reversed(children):
            if child.poll() is None:
                child.kill() if hurried else child.terminate()
            deadline = time.monotonic() + (WORKER_STOP_SECONDS if child is patient else 10)
            while child.poll() is None and not hurried and time.monotonic() < deadline:
                time.sleep(0.1)
            if child.poll() is None:
                child.kill()
                child.wait()
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _require_free_port(port: int, flag: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise SystemExit(f"error: port {port} is already in use: stop what uses it, or choose another "
                             f"with {flag}") from None


def _start_sandboxes(root: Path, workspace: Workspace) -> subprocess.Popen:
    """Every sandbox workspace.toml declares, served by one `sync-core sandbox` process."""
    sandboxes = list(workspace.sandboxes.values())
    for sandbox in sandboxes:
        if _healthy(_health_url(sandbox.port)):
            raise SystemExit(f"error: something already answers on port {sandbox.port}: stop it, or change "
                             f"[{sandbox.key}] port and destinations.*.base_url in {root / WORKSPACE_FILE}")
    child = subprocess.Popen([sys.executable, "-m", "sync_core.cli", "-w", str(root), "sandbox"],
                             stdout=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 20
    waiting = list(sandboxes)
    while time.monotonic() < deadline:
        for sandbox in [s for s in waiting if _healthy(_health_url(s.port))]:
            print(f"{vendor_named(sandbox.vendor).title} sandbox: http://127.0.0.1:{sandbox.port}", flush=True)
            waiting.remove(sandbox)
        if not waiting:
            return child
        if child.poll() is not None:
            raise SystemExit(f"error: the sandbox stopped at start (exit {child.returncode}); "
                             f"try `sync-core -w {root} sandbox` to see why")
        time.sleep(0.2)
    child.terminate()
    raise SystemExit(f"error: the sandbox did not answer on port {waiting[0].port} within 20 s")


def _start_emulator(root: Path, emulator: EmulatorSettings) -> subprocess.Popen:
    """The Snowflake demo's emulator, in a process of its own (`sync-core demo emulator`), once it answers."""
    require_emulator()  # says how to install it when it is missing
    if _healthy(emulator.url(HEALTH_PATH)):
        raise SystemExit(f"error: something already answers on port {emulator.port}: stop it, or change "
                         f"sources.{emulator.source}.port in {root / WORKSPACE_FILE}")
    child = subprocess.Popen([sys.executable, "-m", "sync_core.cli", "-w", str(root), "demo", "emulator"],
                             stdout=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60  # it imports Snowpark's connector and loads the warehouse first
    while time.monotonic() < deadline:
        if _healthy(emulator.url(HEALTH_PATH)):
            print(f"Snowflake emulator: http://{emulator.host}:{emulator.port} (database {emulator.database}, "
                  f"schema {emulator.schema})", flush=True)
            return child
        if child.poll() is not None:
            raise SystemExit(f"error: the Snowflake emulator stopped at start (exit {child.returncode}); "
                             f"try `sync-core -w {root} demo emulator` to see why")
        time.sleep(0.2)
    _stop([child], patient=None)
    raise SystemExit(f"error: the Snowflake emulator did not answer on port {emulator.port} within 60 s")


def _health_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/_sandbox/health"


def _wait_for_dashboard(app: subprocess.Popen, port: int) -> None:
    url = f"http://127.0.0.1:{port}/_stcore/health"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if app.poll() is not None:
            raise SystemExit(f"error: the dashboard stopped at start (exit {app.returncode}); see its output above")
        try:
            if requests.get(url, timeout=1).text.strip() == "ok":
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"error: the dashboard did not answer on port {port} within 60 s")


def _healthy(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.RequestException:
        return False


def _has_runs(workspace: Workspace) -> bool:
    with StateStore(workspace.state_path) as store:
        return bool(store.list_runs(limit=1))


class _WaitingClock(SystemClock):
    """Real time, as the sandbox's rate limits count it, that counts down a long wait instead of going quiet; a
    `quiet` one (a run beside the terminal's) only adds its long waits up, for the run's line."""

    def __init__(self, destination: str, *, quiet: bool = False):
        super().__init__()
        self.destination = destination  # whose rate limit a wait is for, as the countdown says
        self.quiet = quiet
        self.waited = 0.0  # seconds of long waits, when quiet
        self._lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        if seconds < LONG_WAIT_SECONDS:
            return super().sleep(seconds)
        if self.quiet:
            with self._lock:
                self.waited += seconds
            return super().sleep(seconds)
        end = time.monotonic() + seconds
        tty = sys.stdout.isatty()
        what = f"{self.destination}'s rate limit"
        while (left := end - time.monotonic()) > 0:
            if tty:
                print(f"\r  waiting for {what}: {left:4.0f} s", end="", flush=True)
            time.sleep(min(1.0, left) if tty else left)
        print(f"\r  waiting for {what}: done   " if tty else f"  waited {seconds:.0f} s for {what}", flush=True)


class _RunsAside:
    """One vendor's runs of a day, in order, in a thread beside the terminal's runs: quiet, their lines printed by
    `join`; a Ctrl-C in the terminal stops them too (after their requests in flight, recorded as interrupted)."""

    def __init__(self, workspace: Workspace, sync_ids: list[str], dated: OffsetClock):
        self.workspace, self.sync_ids, self.dated = workspace, sync_ids, dated
        self.token = CancelToken()
        self.lines: list[str] = []
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="history-aside", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for sync_id in self.sync_ids:
                if self.token.cancelled:
                    return
                clock = _WaitingClock(_vendor_title(self.workspace, sync_id), quiet=True)
                record = run_sync(self.workspace, sync_id, trigger="demo", dated=self.dated, clock=clock,
                                  cancel=self.token)
                waited = f"; waited {clock.waited:.0f} s for {clock.destination}'s rate limit" if clock.waited else ""
                self.lines.append(_run_line(sync_id, record) + waited)
        except BaseException as exc:  # raised again in the terminal's thread, once every run aside has ended
            self.error = exc

    def join(self, *, stop: bool) -> None:
        if stop:
            self.token.stop_for_shutdown()
        self._thread.join()
        for line in self.lines:
            print(line, flush=True)


def _destination_type(workspace: Workspace, sync_id: str) -> str:
    return workspace.destinations[workspace.syncs[sync_id].destination].type


def _vendor_title(workspace: Workspace, sync_id: str) -> str:
    vendor = VENDORS.get(_destination_type(workspace, sync_id))
    return vendor.title if vendor else workspace.syncs[sync_id].destination


def _run_line(sync_id: str, record) -> str:
    c = record.counts.as_dict()
    return (f"  {sync_id}: {record.status}, {c['synced']:,} synced, {c['rejected_expected']:,} expected "
            f"rejections, {record.counts.real_rows:,} real problems")


def _build_history(workspace: Workspace, days: int, observer_factory) -> None:
    """Run every sync once per simulated day, the last day being today, so the dashboard opens on a history.
    A day's update-only runs share one export of who exists (lookup.py; advance_demo makes the next day export
    again): three days, three exports, within Iterable's 4 a minute, so no run waits for that limit.

    The day's first run goes alone (it queries every contact, so the MQR counts each person first for it, as
    when every run went in turn); then the runs of each other vendor (Marketo) go beside the first vendor's, in a
    thread of their own: they share no rate limit, and they wait on the vendor's answers more than on the cores."""
    started = time.monotonic()
    for day in range(days):
        dated = OffsetClock(-(days - 1 - day) * DAY_SECONDS)  # the runs carry their simulated day's date
        if day:
            summary = advance_demo(workspace)
            change = (f": {summary.new_contacts:,} new contacts, {summary.changed_contacts:,} changed, "
                      f"{summary.removed_contacts:,} removed")
        else:
            change = ""
        date = datetime.fromtimestamp(dated.now(), timezone.utc)
        print(f"Day {day + 1} of {days} (runs dated {date:%Y-%m-%d}){change}", flush=True)
        first, *others = workspace.syncs
        aside: dict[str, list[str]] = {}  # destination type -> its syncs, in the workspace's order
        for sync_id in others:
            aside.setdefault(_destination_type(workspace, sync_id), []).append(sync_id)
        here = [first] + aside.pop(_destination_type(workspace, first), [])
        runs_aside: list[_RunsAside] = []
        stopped = True
        try:
            for i, sync_id in enumerate(here):
                observer = observer_factory()
                record = run_sync(workspace, sync_id, trigger="demo", observer=observer, dated=dated,
                                  clock=_WaitingClock(_vendor_title(workspace, sync_id)))
                observer.close()
                print(_run_line(sync_id, record), flush=True)
                if i == 0:
                    runs_aside = [_RunsAside(workspace, ids, dated) for ids in aside.values()]
            stopped = False
        finally:
            for runs in runs_aside:
                runs.join(stop=stopped)
        error = next((runs.error for runs in runs_aside if runs.error is not None), None)
        if error is not None:  # a bug in a run aside (run_sync records a user's error on the run instead)
            raise error
    print(f"History ready: {days} days in {time.monotonic() - started:.0f} s", flush=True)
