"""`sync-core worker`: runs what was asked (the queue: the dashboard's buttons, `run --enqueue`) and what is due
(schedules), at most one run per sync and `concurrency` syncs at once, each run in a thread of its own.

Runs do not live in the dashboard: a page rerun, a closed tab or a second viewer neither kills nor duplicates a run.
Every tick the worker:
  - renews its heartbeat (the dashboard shows it; another worker closes the requests of one that is gone);
  - records runs whose process died as `interrupted` (their unconfirmed rows are sent by the next run);
  - asks for the runs schedules have made due (a slot missed during downtime runs once);
  - takes queued requests while it has room;
  - once a day, prunes row-level history older than the workspace's retention;
  - and, in a thread of its own (so a webhook that never answers delays no run), raises alerts on a sync's change
    of status or when it becomes overdue, and delivers them (alerts/).

The workspace is read again for each run, so a change to workspace.toml applies to the next run, and a request
for a sync removed since fails with that message. `stop()` (SIGTERM, Ctrl-C): takes no more runs, lets the
requests in flight finish, records the runs as interrupted and returns."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from .alerts.monitor import Alerts
from .clock import Clock, SystemClock
from .config import load_workspace
from .counts import RunCounts
from .errors import SyncCoreError, WorkspaceBusyError
from .run_context import CancelToken, RunEvents
from .runner import run_sync
from .secrets import redact
from .state import StateStore
from .state.run_log import iso_utc
from .state.run_queue import WORKER_BEAT_SECONDS, RequestRecord
from .history import latest_runs
from .mqr import period_end
from .sync_status import last_started, sync_statuses

POLL_SECONDS = 0.25  # how often the worker looks for a queued request (its pick-up latency)
SCHEDULE_EVERY = 5.0  # how often it checks which schedules are due
RETENTION_EVERY = timedelta(days=1)
MQR_PRUNE_ROWS_PER_TICK = 100_000  # keys of closed MQR periods deleted per schedule check: about 0.5 s (benchmarks.md)
TROUBLE_PAUSE_SECONDS = 5.0
ALERT_EVERY = 10.0  # how often alerts are looked for and due deliveries sent
log = logging.getLogger(__name__)


@dataclass
class _Running:
    request: RequestRecord
    token: CancelToken
    thread: threading.Thread
    run_id: int | None = None


class Worker:
    def __init__(self, root: Path, *, concurrency: int = 1, clock: Clock | None = None,
                 say: Callable[[str], None] = lambda text: None):
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.root, self.concurrency = Path(root), concurrency
        self.clock = clock or SystemClock()  # schedules' time (tests pass a manual one)
        self.say = say
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._running: dict[str, _Running] = {}  # by sync id
        self._ended: list[str] = []  # syncs whose run threads ended, to join
        self._unclosed: list[tuple[int, str | None]] = []  # (request id, error) a run thread could not close
        self._next_beat = self._next_schedule = 0.0
        self._said_stopping = False
        self._last_trouble: str | None = None
        self._schedules_problem = LastingProblem("schedules")
        self._old_periods: list[str] | None = None  # MQR periods whose keys are past the retention (None: not looked)
        workspace = load_workspace(self.root)  # a config error stops the worker before it registers
        self.store = StateStore(workspace.state_path)
        self.id = self.store.register_worker(concurrency)

    # ---- the loop ------------------------------------------------------------------------------------------

    def serve(self) -> None:
        """Tick until stop() is called and every run has ended."""
        self.say(f"worker {self.id} started: {self.concurrency} sync(s) at a time, state in {self.store.path}")
        try:  # before the first schedules fire: a sync left overdue while no worker ran is an alert of its own
            self.check_alerts(deliver=False)
        except Exception as exc:  # the alert thread tries again
            log.warning("alerts not checked at start: %s", redact(str(exc)))
        alerting = AlertLoop(self)
        try:
            while True:
                try:
                    self.tick()
                except Exception as exc:  # the store busy, damaged or unwritable, a bug: say so, keep going
                    self._trouble(exc)
                    time.sleep(TROUBLE_PAUSE_SECONDS)
                    continue
                self._last_trouble = None
                with self._lock:
                    idle = not self._running
                if self._stopping.is_set() and idle:
                    break
                time.sleep(POLL_SECONDS)
        finally:
            alerting.stop()
            self.store.stop_worker(self.id)
            self.store.close()
            self.say(f"worker {self.id} stopped")

    def _trouble(self, exc: Exception) -> None:
        text = redact(str(exc) if isinstance(exc, (SyncCoreError, sqlite3.Error)) else f"{type(exc).__name__}: {exc}")
        if text != self._last_trouble:  # once per distinct problem, not every few seconds
            if not isinstance(exc, (SyncCoreError, sqlite3.Error)):
                log.exception("worker tick failed")
            self.say(f"worker: {text}; trying again every {TROUBLE_PAUSE_SECONDS:.0f} s")
            self._last_trouble = text

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        """Take no more runs; the runs in progress stop after their requests in flight, as `interrupted`. Safe in a
        signal handler: it only sets an event, and the loop does the rest at its next tick."""
        self._stopping.set()

    def _shut_down_runs(self) -> None:
        with self._lock:
            tokens = [r.token for r in self._running.values() if not r.token.shutdown]
        if tokens or not self._said_stopping:
            self.say("stopping: no new runs; the runs in progress stop after their requests in flight")
            self._said_stopping = True
        for token in tokens:
            token.stop_for_shutdown()

    def tick(self) -> None:
        """One pass of the loop (module doc); public so tests can drive the worker step by step."""
        self._settle_threads()
        real_now = time.monotonic()
        if real_now >= self._next_beat:
            self.store.worker_heartbeat(self.id)
            self.store.mark_interrupted_runs()
            self._next_beat = real_now + WORKER_BEAT_SECONDS
        if self._stopping.is_set():
            self._shut_down_runs()
            return
        if real_now >= self._next_schedule:
            self.fire_schedules()
            self.prune_if_due()
            self.prune_mqr_keys()
            self._next_schedule = real_now + SCHEDULE_EVERY
        self._take_requests()

    # ---- schedules and retention ---------------------------------------------------------------------------

    def fire_schedules(self) -> None:
        """Ask for the runs the schedules have made due (one per sync, however many slots were missed)."""
        try:
            workspace = load_workspace(self.root)
        except SyncCoreError as exc:
            self._schedules_problem.failed(str(exc))
            return
        self._schedules_problem.cleared()
        now = datetime.fromtimestamp(self.clock.now(), timezone.utc)
        marks = self.store.schedule_marks()
        latest = latest_runs(self.store, whole=True)  # a retry of failed rows leaves the others to the schedule
        running = {r.sync_id: r for r in self.store.running_runs()}
        for sync in workspace.syncs.values():
            mark = marks.get(sync.id)
            if sync.schedule.manual or (mark and mark.paused):
                continue
            last_fired = mark.last_fired if mark else None
            last_run = last_started(latest.get(sync.id), running.get(sync.id))
            if sync.schedule.kind == "cron" and last_fired is None and last_run is None:
                self.store.fire_schedule(sync.id, now, None, enqueue=False)  # a cron counts from when it is first seen
                continue
            slot = sync.schedule.due_slot(last_fired=last_fired, last_run_started=last_run, now=now)
            if slot is not None:
                answer = self.store.fire_schedule(sync.id, slot, last_fired)
                if answer is not None:
                    self.say(f"{sync.id}: scheduled run due ({sync.schedule.describe()}): {answer.describe()}")

    def check_alerts(self, *, deliver: bool = True) -> None:
        """Alerts on what changed since the last look, then the due deliveries (check_alerts below)."""
        check_alerts(self.root, datetime.fromtimestamp(self.clock.now(), timezone.utc), self.say, deliver=deliver)

    def prune_if_due(self) -> None:
        """Once a day: row-level history older than the workspace's retention (run records stay)."""
        done = self.store.maintenance_done_at("retention")
        now = self.store.lease_clock.now()
        if done and now - datetime.fromisoformat(done).timestamp() < RETENTION_EVERY.total_seconds():
            return
        try:
            days = load_workspace(self.root).retention_days
        except SyncCoreError:
            return
        pruned = self.store.prune_row_history(iso_utc(now - days * 86_400))
        self.say(f"retention ({days} days): pruned {pruned['example_keys']} runs' example keys and "
                 f"{pruned['requests']} closed requests")
        self._old_periods = None  # look again for MQR periods past the retention

    def prune_mqr_keys(self) -> int:
        """The keys of MQR periods that ended before the retention, a slice per call, so that the loop keeps its
        heartbeat and answers the queue while millions go. The periods' totals stay: reports read those. Returns
        the keys deleted."""
        if self._old_periods is None:
            try:
                workspace = load_workspace(self.root)
            except SyncCoreError:
                return 0
            now = self.store.lease_clock.now()
            cutoff = datetime.fromtimestamp(now - workspace.retention_days * 86_400, timezone.utc).date()
            start_day = workspace.mqr.billing_period_start_day
            self._old_periods = [p for p in self.store.mqr_periods_with_keys()
                                 if period_end(date.fromisoformat(p), start_day) <= cutoff]
        deleted = 0
        while self._old_periods and deleted < MQR_PRUNE_ROWS_PER_TICK:
            chunk = self.store.prune_period_keys(self._old_periods[0], MQR_PRUNE_ROWS_PER_TICK - deleted)
            deleted += chunk
            if not chunk:
                self.say(f"retention: the keys of MQR period {self._old_periods.pop(0)} are pruned (its totals stay)")
        return deleted

    # ---- requests -----------------------------------------------------------------------------------------

    def _take_requests(self) -> None:
        while True:
            with self._lock:
                if len(self._running) >= self.concurrency:
                    return
                busy = set(self._running)
            if not self.store.has_queued_requests():
                return
            request = self.store.take_request(self.id, busy)
            if request is None:
                return
            self._start(request)

    def _start(self, request: RequestRecord) -> None:
        token = CancelToken()
        thread = threading.Thread(target=self._run, args=(request, token), name=f"run-{request.sync_id}", daemon=True)
        with self._lock:
            self._running[request.sync_id] = _Running(request, token, thread)
        self.say(f"{request.sync_id}: {request.describe()} asked by {request.requested_by} ({request.trigger}): "
                 "starting")
        thread.start()

    def _run(self, request: RequestRecord, token: CancelToken) -> None:
        """A run's thread. The queue's bookkeeping for it (the run it became, its end) is written here, on a
        connection of the thread's own, so a request is closed the moment its run ends; if the store cannot take
        it then, the loop tries again."""
        error = None
        try:
            with StateStore(self.store.path) as books:
                events = RunEvents(started=[lambda run_id: self._started_run(books, request, run_id)],
                                   finished=[lambda r: self.say(f"{r.sync_id}: run {r.id} {r.status}")])
                error = self._run_request(books, request, token, events)
                books.close_request(request.id, error)
                error = None
        except Exception as exc:  # the bookkeeping itself failed (the store busy, damaged): the loop closes it
            log.warning("request %s not closed yet: %s", request.id, redact(str(exc)))
            with self._lock:
                self._unclosed.append((request.id, error))
        finally:
            with self._lock:
                self._ended.append(request.sync_id)

    def _run_request(self, books: StateStore, request: RequestRecord, token: CancelToken, events: RunEvents):
        """Run what was asked; returns why it did not become a run, if it did not (else None)."""
        try:
            workspace = load_workspace(self.root)
        except SyncCoreError as exc:  # workspace.toml broken since: a failed run says so, and alerts hear of it
            return self._refuse(books, request, str(exc))
        if request.sync_id not in workspace.syncs:
            return self._refuse(books, request, f"{workspace.file}: sync '{request.sync_id}' is no longer in the "
                                                "workspace (it was removed after this run was asked for); nothing was run")
        resend = books.resend_of(request.id)  # a reconciliation's differing and missing rows, only them
        try:
            run_sync(workspace, request.sync_id, trigger=request.trigger, full_resync=request.full_resync,
                     dry_run=request.run_type == "dry_run", retry_failed=request.retry_failed,
                     allow_removals=request.allow_removals, cancel=token, events=events,
                     requested_by=request.requested_by,
                     only_keys=books.resend_keys(resend) if resend is not None else None)
        except WorkspaceBusyError as exc:  # a run started elsewhere (a terminal) since the request was taken
            self.say(f"{request.sync_id}: request {request.id} not run: {exc}")
            return str(exc)
        except Exception as exc:  # a bug (run_sync records it on the run): the worker stays up for the others
            log.exception("request %s failed", request.id)
            return redact(f"internal error: {type(exc).__name__}: {exc}")
        return None

    def _started_run(self, books: StateStore, request: RequestRecord, run_id: int) -> None:
        books.attach_run(request.id, run_id)
        with self._lock:
            self._running[request.sync_id].run_id = run_id

    def _refuse(self, books: StateStore, request: RequestRecord, error: str) -> str:
        """A request that cannot run (its sync removed, the workspace broken): a failed run saying why."""
        run_id = books.start_run(request.sync_id, trigger=request.trigger, config_fingerprint="",
                                 run_type=request.run_type)
        books.set_requested_by(run_id, request.requested_by)
        self._started_run(books, request, run_id)
        books.finish_run(run_id, status="failed", counts=RunCounts(), phases={}, notes=[], error=error,
                         error_class="config")
        self.say(f"{request.sync_id}: run {run_id} failed: {error}")
        return error

    def _settle_threads(self) -> None:
        """Join the threads of runs that ended; close the requests their threads could not."""
        with self._lock:
            ended, self._ended = self._ended, []
            unclosed = list(self._unclosed)
        for sync_id in ended:
            with self._lock:
                running = self._running.pop(sync_id)
            running.thread.join()
        for item in unclosed:
            self.store.close_request(*item)
            with self._lock:
                self._unclosed.remove(item)


def check_alerts(root: Path, now: datetime, say: Callable[[str], None] = lambda text: None, *,
                 deliver: bool = True) -> None:
    """Raise the alerts of what changed since the last look (runs that finished, syncs that became overdue or are
    back on schedule) and send the deliveries due at `now`. The worker calls it every ALERT_EVERY seconds;
    `sync-core check-alerts` calls it once (a watchdog run from elsewhere sees a workspace whose worker is down)."""
    workspace = load_workspace(root)
    with StateStore(workspace.state_path) as store:
        statuses = sync_statuses(workspace, store, now)
        seen = store.alert_states()
        overdue = {s.sync.id: s.overdue_text() for s in statuses if s.overdue_by is not None}
        # Pausing an overdue sync does not put it back on schedule: its flag stays until it runs.
        overdue |= {s.sync.id: "paused" for s in statuses if s.paused and s.sync.id in seen and seen[s.sync.id].overdue}
        alerts = Alerts(workspace, store)
        for alert in alerts.observe(now, overdue):
            say(f"alert: {alert.subject}")
        if deliver:
            alerts.deliver(now)


class AlertLoop:
    """Calls the worker's check_alerts every ALERT_EVERY seconds in a thread of its own, until stopped."""

    def __init__(self, worker: Worker):
        self._worker = worker
        self._problem = LastingProblem("alerts")
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="alerts", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stopped.wait(ALERT_EVERY):
            try:
                self._worker.check_alerts()
            except Exception as exc:  # an alert never stops the worker; a delivery's own failure is recorded
                self._problem.failed(redact(str(exc)))
            else:
                self._problem.cleared()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=60)


class LastingProblem:
    """A problem that lasts (a typo in workspace.toml) logged when it starts, changes and ends, not at every
    check every few seconds."""

    def __init__(self, what: str):
        self.what = what
        self._said: str | None = None

    def failed(self, text: str) -> None:
        if text != self._said:
            log.warning("%s not checked: %s", self.what, text)
            self._said = text

    def cleared(self) -> None:
        if self._said is not None:
            log.warning("%s checked again: the problem above is gone", self.what)
            self._said = None
