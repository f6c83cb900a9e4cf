"""The run queue: runs asked for (by the dashboard, `sync-core run --enqueue`, a schedule) and the workers that
take them (worker.py runs them).

- One open request per sync: asking again while a request for the sync is queued, taken, or while the sync has a
  live run, answers with the request or run already there instead of queueing a second.
- A worker takes the oldest queued request of a sync that has no live run, in one write transaction, so two
  workers never take the same request; the run's own lease (run_log.py) keeps a sync to one live run, whoever
  started it.
- A request taken by a worker that died is closed by the next heartbeat of any live worker: its run, if it
  started, is interrupted by its lease like any other.
- A cancel is asked of a running run (`runs.cancel_requested_by`); the run's cancel watch sees it within a
  second (runner.py) and stops after the requests in flight.

Times here are real time (the store's `lease_clock`): they are compared across processes and with schedules.

A part of StateStore (a mixin over its connection, write transactions and clocks)."""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable
from urllib.parse import quote

from . import process
from .run_log import iso_utc, run_kind

WORKER_BEAT_SECONDS = 5  # a worker renews its heartbeat this often
WORKER_STALE_SECONDS = 30  # a worker not heard from for this long is gone
CANCEL_POLL_SECONDS = 1.0  # how soon a running run sees a cancel asked from another process
TRIGGERS = ("schedule", "dashboard", "cli")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestRecord:
    id: int
    sync_id: str
    run_type: str
    full_resync: bool
    retry_failed: bool
    allow_removals: bool
    trigger: str
    requested_by: str
    requested_at: str
    status: str  # queued | taken | done | withdrawn
    worker_id: str | None
    run_id: int | None
    error: str | None

    def describe(self) -> str:
        """What the run will do, in a few words (run_log.run_kind)."""
        return run_kind(self.run_type, self.full_resync, self.retry_failed)


@dataclass(frozen=True)
class Enqueued:
    """The answer to a request: `queued` (a new request), or `already_queued` / `already_running` with the
    request or run that is already there."""
    state: str
    request_id: int | None
    run_id: int | None = None

    @property
    def new(self) -> bool:
        return self.state == "queued"

    def describe(self) -> str:
        if self.state == "queued":
            return f"queued as request {self.request_id}"
        if self.state == "already_queued":
            return f"already queued (request {self.request_id})"
        return f"already running (run {self.run_id})"


@dataclass(frozen=True)
class WorkerRecord:
    id: str
    host: str
    pid: int
    concurrency: int
    started_at: str
    heartbeat_at: str
    stopped_at: str | None
    alive: bool


@dataclass(frozen=True)
class ScheduleMark:
    sync_id: str
    last_fired: datetime | None
    paused_at: str | None
    paused_by: str | None

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


REQUEST_COLUMNS = ("id, sync_id, run_type, full_resync, retry_failed, allow_removals, trigger, requested_by, "
                   "requested_at, status, worker_id, run_id, error")


def _request(row) -> RequestRecord:
    (rid, sync_id, run_type, full_resync, retry_failed, allow_removals, trigger, by, at, status, worker, run_id,
     error) = row
    return RequestRecord(rid, sync_id, run_type, bool(full_resync), bool(retry_failed), bool(allow_removals),
                         trigger, by, at, status, worker, run_id, error)


class RunQueue:
    def _real_now(self) -> str:
        return iso_utc(self.lease_clock.now())

    # ---- requests ---------------------------------------------------------------------------------------

    def enqueue(self, sync_id: str, *, trigger: str, requested_by: str, run_type: str = "sync",
                full_resync: bool = False, retry_failed: bool = False, allow_removals: bool = False) -> Enqueued:
        """Ask for a run; one open request per sync (module doc)."""
        assert trigger in TRIGGERS, trigger
        with self._write() as db:
            return self._enqueue(db, sync_id, trigger, requested_by, run_type, full_resync, retry_failed,
                                 allow_removals)

    def _enqueue(self, db, sync_id, trigger, requested_by, run_type="sync", full_resync=False, retry_failed=False,
                 allow_removals=False) -> Enqueued:
        # A request is open while queued, or taken and its run not yet ended (it closes a moment after).
        row = db.execute("SELECT q.id, q.run_id FROM run_requests q LEFT JOIN runs r ON r.id = q.run_id "
                         "WHERE q.sync_id = ? AND (q.status = 'queued' OR (q.status = 'taken' AND "
                         "(q.run_id IS NULL OR r.status = 'running'))) ORDER BY q.id LIMIT 1", (sync_id,)).fetchone()
        if row is not None:
            return Enqueued("already_running", row[0], row[1]) if row[1] else Enqueued("already_queued", row[0])
        live = self._live_run(db, sync_id)
        if live is not None:
            return Enqueued("already_running", None, live)
        cursor = db.execute(
            "INSERT INTO run_requests (sync_id, run_type, full_resync, retry_failed, allow_removals, trigger, "
            "requested_by, requested_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued')",
            (sync_id, run_type, int(full_resync), int(retry_failed), int(allow_removals), trigger, requested_by,
             self._real_now()))
        return Enqueued("queued", cursor.lastrowid)

    def _live_run(self, db, sync_id: str) -> int | None:
        now, here = self.lease_clock.now(), process.host()
        for run_id, holder in self._holders(db, "sync_id = ?", (sync_id,)):
            if holder.alive(now, here):
                return run_id
        return None

    def withdraw(self, request_id: int, by: str) -> bool:
        """Withdraw a queued request; False if it is no longer queued (a worker took it: cancel its run)."""
        with self._write() as db:
            return db.execute("UPDATE run_requests SET status = 'withdrawn', ended_at = ?, error = ? "
                              "WHERE id = ? AND status = 'queued'",
                              (self._real_now(), f"withdrawn by {by}", request_id)).rowcount == 1

    def get_request(self, request_id: int) -> RequestRecord | None:
        return self._fetch_one(_request, f"SELECT {REQUEST_COLUMNS} FROM run_requests WHERE id = ?", (request_id,))

    def open_requests(self) -> list[RequestRecord]:
        """Requests queued or taken, oldest first."""
        return self._fetch_all(_request, f"SELECT {REQUEST_COLUMNS} FROM run_requests WHERE status IN "
                                         "('queued', 'taken') ORDER BY id")

    def take_request(self, worker_id: str, busy_syncs: set[str] = frozenset()) -> RequestRecord | None:
        """The oldest queued request of a sync with no live run (and not in `busy_syncs`), now the worker's."""
        with self._write() as db:
            for row in db.execute(f"SELECT {REQUEST_COLUMNS} FROM run_requests WHERE status = 'queued' "
                                  "ORDER BY id").fetchall():
                request = _request(row)
                if request.sync_id in busy_syncs or self._live_run(db, request.sync_id) is not None:
                    continue
                db.execute("UPDATE run_requests SET status = 'taken', worker_id = ?, taken_at = ? WHERE id = ?",
                           (worker_id, self._real_now(), request.id))
                return self.get_request(request.id)
        return None

    def has_queued_requests(self) -> bool:
        """A cheap read first, so an idle worker takes no write lock every poll."""
        return self._db.execute("SELECT 1 FROM run_requests WHERE status = 'queued' LIMIT 1").fetchone() is not None

    def attach_run(self, request_id: int, run_id: int) -> None:
        """The request became this run (once the run has started)."""
        with self._write() as db:
            db.execute("UPDATE run_requests SET run_id = ? WHERE id = ?", (run_id, request_id))

    def close_request(self, request_id: int, error: str | None = None) -> None:
        with self._write() as db:
            db.execute("UPDATE run_requests SET status = 'done', ended_at = ?, error = ? WHERE id = ?",
                       (self._real_now(), error, request_id))

    def _close_orphans(self, db: sqlite3.Connection) -> None:
        """Requests taken by workers that are gone: closed (their runs are interrupted by their leases)."""
        live = [w.id for w in self._workers(db) if w.alive]
        db.execute(f"UPDATE run_requests SET status = 'done', ended_at = ?, error = COALESCE(error, ?) "
                   f"WHERE status = 'taken' AND worker_id NOT IN ({', '.join('?' * len(live))})",
                   (self._real_now(), "the worker running it stopped", *live))

    def unrun_requests(self, sync_id: str, since: str) -> list[RequestRecord]:
        """Requests closed since `since` (UTC ISO-8601) without becoming a run, newest first: why each did not."""
        return [_request(r) for r in self._db.execute(
            f"SELECT {REQUEST_COLUMNS} FROM run_requests WHERE sync_id = ? AND status = 'done' AND run_id IS NULL "
            "AND error IS NOT NULL AND ended_at >= ? ORDER BY id DESC", (sync_id, since))]

    # ---- cancel -------------------------------------------------------------------------------------------

    def request_cancel(self, run_id: int, by: str) -> bool:
        """Ask a running run to stop after its requests in flight; False if it is not running."""
        with self._write() as db:
            return db.execute("UPDATE runs SET cancel_requested_by = ? WHERE id = ? AND status = 'running'",
                              (by, run_id)).rowcount == 1

    # ---- workers ------------------------------------------------------------------------------------------

    def register_worker(self, concurrency: int) -> str:
        pid, started = process.current()
        here = process.host()
        worker_id = f"{here.split()[0]}:{pid}:{started or int(self.lease_clock.now())}"
        now = self._real_now()
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO workers (id, host, pid, concurrency, started_at, heartbeat_at) "
                       "VALUES (?, ?, ?, ?, ?, ?)", (worker_id, here, pid, concurrency, now, now))
            self._close_orphans(db)
        return worker_id

    def worker_heartbeat(self, worker_id: str) -> None:
        with self._write() as db:
            db.execute("UPDATE workers SET heartbeat_at = ? WHERE id = ?", (self._real_now(), worker_id))
            self._close_orphans(db)

    def stop_worker(self, worker_id: str) -> None:
        with self._write() as db:
            db.execute("UPDATE workers SET stopped_at = ?, heartbeat_at = ? WHERE id = ?",
                       (self._real_now(), self._real_now(), worker_id))

    def workers(self) -> list[WorkerRecord]:
        """Every worker that ever registered, the live ones first, newest heartbeat first."""
        return self._workers(self._db)

    def _workers(self, db) -> list[WorkerRecord]:
        rows = db.execute("SELECT id, host, pid, concurrency, started_at, heartbeat_at, stopped_at FROM workers "
                          "ORDER BY heartbeat_at DESC").fetchall()
        now, here = self.lease_clock.now(), process.host()
        records = []
        for worker_id, host, pid, concurrency, started_at, beat, stopped in rows:
            fresh = now - datetime.fromisoformat(beat).timestamp() < WORKER_STALE_SECONDS
            alive = stopped is None and fresh and (host != here or process.alive(pid, None))
            records.append(WorkerRecord(worker_id, host, pid, concurrency, started_at, beat, stopped, alive))
        return sorted(records, key=lambda w: not w.alive)

    # ---- schedules ----------------------------------------------------------------------------------------

    def schedule_marks(self) -> dict[str, ScheduleMark]:
        rows = self._db.execute("SELECT sync_id, last_fired, paused_at, paused_by FROM sync_schedules").fetchall()
        return {r[0]: ScheduleMark(r[0], datetime.fromisoformat(r[1]) if r[1] else None, r[2], r[3]) for r in rows}

    def fire_schedule(self, sync_id: str, slot: datetime, seen: datetime | None, *,
                      enqueue: bool = True) -> Enqueued | None:
        """Ask for the scheduled run of `slot`, if the schedule's mark is still `seen` (another worker may have
        fired it meanwhile: then None). The slot is marked fired even when the sync is already queued or running:
        a slot is run once, not once per worker or per missed slot. Without `enqueue`, only the mark is set (a
        cron schedule's count starts)."""
        with self._write() as db:
            row = db.execute("SELECT last_fired, paused_at FROM sync_schedules WHERE sync_id = ?", (sync_id,)).fetchone()
            current = datetime.fromisoformat(row[0]) if row and row[0] else None
            if current != seen or (row and row[1]):
                return None
            db.execute("INSERT INTO sync_schedules (sync_id, last_fired) VALUES (?, ?) ON CONFLICT (sync_id) "
                       "DO UPDATE SET last_fired = excluded.last_fired", (sync_id, slot.isoformat(timespec="seconds")))
            return self._enqueue(db, sync_id, "schedule", "schedule") if enqueue else None

    def pause_sync(self, sync_id: str, by: str) -> None:
        with self._write() as db:
            db.execute("INSERT INTO sync_schedules (sync_id, paused_at, paused_by) VALUES (?, ?, ?) "
                       "ON CONFLICT (sync_id) DO UPDATE SET paused_at = excluded.paused_at, paused_by = excluded.paused_by",
                       (sync_id, self._real_now(), by))

    def resume_sync(self, sync_id: str) -> None:
        with self._write() as db:
            db.execute("UPDATE sync_schedules SET paused_at = NULL, paused_by = NULL WHERE sync_id = ?", (sync_id,))

    # ---- maintenance --------------------------------------------------------------------------------------

    def maintenance_done_at(self, task: str) -> str | None:
        row = self._db.execute("SELECT done_at FROM maintenance WHERE task = ?", (task,)).fetchone()
        return row[0] if row else None

    def prune_row_history(self, before: str) -> dict[str, int]:
        """History older than `before` (UTC ISO-8601): runs' example keys (people's emails), closed requests,
        stopped or gone workers, and alerts with their deliveries. Run records, their counts and causes stay."""
        with self._write() as db:
            examples = db.execute(
                "UPDATE run_causes SET example_keys = '[]' WHERE example_keys <> '[]' AND run_id IN "
                "(SELECT id FROM runs WHERE started_at < ? AND status <> 'running')", (before,)).rowcount
            requests = db.execute("DELETE FROM run_requests WHERE status IN ('done', 'withdrawn') AND requested_at < ?",
                                  (before,)).rowcount
            db.execute("DELETE FROM workers WHERE heartbeat_at < ?", (before,))
            db.execute("DELETE FROM alert_deliveries WHERE alert_id IN (SELECT id FROM alerts WHERE created_at < ?)",
                       (before,))
            db.execute("DELETE FROM alerts WHERE created_at < ?", (before,))
            db.execute("INSERT INTO maintenance (task, done_at) VALUES ('retention', ?) ON CONFLICT (task) "
                       "DO UPDATE SET done_at = excluded.done_at", (self._real_now(),))
        return {"example_keys": examples, "requests": requests}


class CancelWatch:
    """Calls `on_cancel(by)` once a cancel is asked of the run (`request_cancel`, from any process) or another process
    has marked it interrupted (its lease lapsed: it must send no more, see RunFenced), checking every
    CANCEL_POLL_SECONDS on a read-only connection of its own (the run's is busy in its own thread)."""

    def __init__(self, path: Path, run_id: int, on_cancel: Callable[[str], None],
                 every: float = CANCEL_POLL_SECONDS):
        self._path, self._run_id, self._on_cancel, self._every = path, run_id, on_cancel, every
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"cancel-watch-{run_id}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        try:
            db = sqlite3.connect(f"file:{quote(str(Path(self._path).resolve()))}?mode=ro", uri=True, timeout=30)
        except sqlite3.Error as exc:
            log.warning("cannot watch run %s for a cancel: %s", self._run_id, exc)
            return
        try:
            while not self._stopped.wait(self._every):
                try:
                    row = db.execute("SELECT cancel_requested_by, status FROM runs WHERE id = ?",
                                     (self._run_id,)).fetchone()
                except sqlite3.Error as exc:  # the run's own writes meet the same problem, and report it
                    log.warning("cannot watch run %s for a cancel: %s", self._run_id, exc)
                    continue
                if row and (row[0] or row[1] != "running"):  # asked to stop, or ended by another process
                    self._on_cancel(row[0] or "another process, which marked the run interrupted")
                    return
        finally:
            db.close()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()
