"""The run log: one row per run, from `start_run` to `finish_run`, with its counts written after every batch (so
an interrupted run still shows how far it got), and which runs recorded as `running` are still alive.

Whether a run is alive is a lease, so that any process on any machine can tell (a dashboard in another
container, later a queue's workers: issue #11):

- `start_run` claims a lease on the run's row: `lease_expires_at` = now + LEASE_SECONDS (UTC). The run renews
  it with every write of its row (`save_progress`, after each batch) and from a heartbeat thread every
  RENEW_EVERY seconds, since a phase can be long (the query); `finish_run` releases it.
- A run whose lease has expired is dead, whoever looks and from wherever: its process was killed, crashed,
  hangs, or its machine is gone. The next open records it `interrupted`.
- Fast path: a reader on the run's own host (process.host(): host name and pid namespace) also asks about its
  process: a run whose pid and start time no longer name a live process is dead at once, without waiting for
  its lease. A reader elsewhere never asks about a pid (it would name another process, or none).
- Runs recorded before leases (no lease, no host): the process alone decides, as it did.

Lease times are real time (`lease_clock`, the system clock by default), not the store's `clock`, which dates
records (the demo dates its history days back). Hosts that share a store must agree on the time to well within
LEASE_SECONDS (NTP does).

A part of StateStore (a mixin over its connection, write transactions and clocks)."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, NamedTuple

from ..counts import RunCounts
from ..errors import WorkspaceBusyError
from ..wal import write_transaction
from . import backup, process
from .integrity import quick_check, quick_check_if_due

LEASE_SECONDS = 120  # a run not heard from for this long is dead
RENEW_EVERY = 30  # the heartbeat's period: a run misses three heartbeats before its lease lapses
log = logging.getLogger(__name__)

INTERRUPTED_ERROR = ("the process running this sync stopped before it finished; rows it had not confirmed are "
                     "sent again by the next run")
CANCELLED_ERROR = ("cancelled with `sync-core run-cancel --force`: marked interrupted by hand (sync-core did not "
                   "stop its process); rows it had not confirmed are sent again by the next run")
TERMINAL_STATUSES = ("healthy", "warning", "failed", "interrupted", "planned", "blocked", "cancelled")


def run_kind(run_type: str, full_resync: bool, retry_failed: bool, resend: bool = False) -> str:
    """What a run does, in a few words, for a run and for the request asking for it alike: 'dry run', 'full
    resync', 'retry failed rows', 'resend of chosen rows', 'run'."""
    if run_type == "dry_run":
        return "dry run"
    if resend:
        return "resend of chosen rows"
    return "full resync" if full_resync else "retry failed rows" if retry_failed else "run"


def iso_utc(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, timezone.utc).isoformat(timespec="seconds")


@dataclass
class RunRecord:
    id: int
    sync_id: str
    trigger: str
    status: str
    run_type: str  # run_context.RUN_TYPES: sync | dry_run
    full_resync: bool
    config_fingerprint: str
    started_at: str
    finished_at: str | None
    counts: RunCounts
    phases: dict[str, float]
    notes: list[str]
    error: str | None
    error_class: str | None
    requested_by: str | None = None  # who asked: a dashboard user's email, 'dashboard', 'schedule', a user name
    phase: str | None = None  # the phase it is in (or ended in)
    cancel_requested_by: str | None = None
    mqr_new: int | None = None  # records new to the billing period's MQR (a dry run: that it would count)
    retry_failed: bool = False  # a retry of the failed rows only
    resend: bool = False  # a resend of chosen keys only (a reconciliation's differing and missing rows)

    @property
    def dry_run(self) -> bool:
        return self.run_type == "dry_run"

    @property
    def partial(self) -> bool:
        """It sent only some rows (a retry of the failed ones, a resend of chosen ones): the others wait for the
        next whole run, which the schedule counts from and whose data problems are the sync's."""
        return self.retry_failed or self.resend

    @property
    def kind(self) -> str:
        return run_kind(self.run_type, self.full_resync, self.retry_failed, self.resend)

    @property
    def duration_seconds(self) -> float | None:
        """The sum of the phase timings (millisecond precision); the timestamps when no phase ran."""
        if self.phases:
            return round(sum(self.phases.values()), 3)
        if self.finished_at:
            return (datetime.fromisoformat(self.finished_at) - datetime.fromisoformat(self.started_at)).total_seconds()
        return None

    def to_json(self) -> dict:
        return {"id": self.id, "sync": self.sync_id, "trigger": self.trigger, "status": self.status,
                "type": self.run_type, "dry_run": self.dry_run, "full_resync": self.full_resync,
                "retry_failed": self.retry_failed, "resend": self.resend,
                "config_fingerprint": self.config_fingerprint, "started_at": self.started_at,
                "finished_at": self.finished_at, "counts": self.counts.as_dict(),
                "by_operation": self.counts.by_operation, "standing": self.counts.standing(),
                "phases": self.phases, "notes": self.notes,
                "error": self.error, "error_class": self.error_class, "requested_by": self.requested_by,
                "mqr_new": self.mqr_new}



@dataclass(frozen=True)
class Holder:
    """Who holds a running run's lease: where its process lives, which process, and until when."""
    host: str | None
    pid: int | None
    pid_started: int | None
    lease_expires_at: str | None  # UTC ISO-8601; None for runs recorded before leases

    def alive(self, now: float, here: str) -> bool:
        """The rule of the module doc, as seen at `now` (epoch seconds) from the host `here`."""
        if self.lease_expires_at is None:
            return process.alive(self.pid, self.pid_started)
        if datetime.fromisoformat(self.lease_expires_at).timestamp() <= now:
            return False
        return self.host != here or process.alive(self.pid, self.pid_started)

    def describe(self, here: str) -> str:
        where = "" if self.host in (None, here) else f" on {self.host}"
        lease = f", its lease renewed until {self.lease_expires_at}" if self.lease_expires_at else ""
        return f"process {self.pid}{where}{lease}"


HOLDER_COLUMNS = ("host", "pid", "pid_started", "lease_expires_at")


class RunProgress(NamedTuple):
    """A run's counts so far, with its phase timings and notes: what its row shows while it runs."""
    counts: RunCounts
    phases: dict[str, float]
    notes: list[str]


class RunLog:
    def start_run(self, sync_id: str, *, trigger: str, config_fingerprint: str, run_type: str = "sync",
                  full_resync: bool = False, retry_failed: bool = False, resend: bool = False) -> int:
        """Record a new running run and claim its lease; refuse if this sync already has a live run, or if the
        store fails SQLite's quick check (run here when due, not at every open: see integrity.py)."""
        with self._translated():
            quick_check_if_due(self._db, self.path)
        pid, started = process.current()
        here = process.host()
        with self._write() as db:
            for run_id, holder in self._holders(db, "sync_id = ?", (sync_id,)):
                if holder.alive(self.lease_clock.now(), here):
                    raise WorkspaceBusyError(
                        f"sync '{sync_id}' is already running (run {run_id}, {holder.describe(here)}); wait for it "
                        f"to finish. If that process is not running this sync, `sync-core run-cancel {run_id}` "
                        f"marks the run interrupted (a run that renews no lease for {LEASE_SECONDS} s counts as "
                        "stopped)")
                self._interrupt(db, run_id)
            cursor = db.execute(
                "INSERT INTO runs (sync_id, trigger, status, run_type, dry_run, full_resync, retry_failed, resend,"
                " config_fingerprint, started_at, pid, pid_started, host, lease_expires_at)"
                " VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (sync_id, trigger, run_type, int(run_type == "dry_run"), int(full_resync), int(retry_failed),
                 int(resend), config_fingerprint, self._now(), pid, started, here, self._lease_end()))
            run_id = cursor.lastrowid
        self._running = run_id
        self._heartbeats[run_id] = Heartbeat(lambda: self._renew_from(self.path, run_id), RENEW_EVERY)
        return run_id

    def _lease_end(self) -> str:
        return iso_utc(self.lease_clock.now() + LEASE_SECONDS)

    def renew_lease(self, run_id: int) -> bool:
        """Extend a running run's lease; False if the run is no longer running (finished, or marked
        interrupted by a process that judged its lease expired)."""
        with self._write() as db:
            return self._renew(db, run_id)

    def _renew(self, db: sqlite3.Connection, run_id: int) -> bool:
        return db.execute("UPDATE runs SET lease_expires_at = ? WHERE id = ? AND status = 'running'",
                          (self._lease_end(), run_id)).rowcount == 1

    def _renew_from(self, path: Path, run_id: int) -> None:
        """The heartbeat's renewal, on a connection of its own (the store's may be inside a transaction)."""
        db = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            with write_transaction(db):
                if not self._renew(db, run_id):
                    log.warning("run %s no longer holds its lease in %s: another process marked it interrupted",
                                run_id, path)
        finally:
            db.close()

    def _stop_heartbeats(self, *run_ids: int) -> None:
        """Stop renewing these runs' leases (all of them if none is named)."""
        heartbeats = getattr(self, "_heartbeats", {})
        for run_id in run_ids or list(heartbeats):
            heartbeat = heartbeats.pop(run_id, None)
            if heartbeat is not None:
                heartbeat.stop()

    def save_progress(self, run_id: int, counts: RunCounts, phases: dict[str, float], notes: list[str]) -> None:
        """The run's counts so far; renews its lease in the same transaction."""
        with self._write() as db:
            self._write_progress(db, run_id, RunProgress(counts, phases, notes))

    def _write_progress(self, db: sqlite3.Connection, run_id: int, progress: RunProgress) -> None:
        """Inside a write transaction (save_progress's, or a batch's own: store.commit_batch)."""
        self._save_counts(db, run_id, *progress)
        self._renew(db, run_id)

    def finish_run(self, run_id: int, *, status: str, counts: RunCounts, phases: dict[str, float],
                   notes: list[str], error: str | None = None, error_class: str | None = None) -> None:
        """Record how the run ended and release its lease."""
        assert status in TERMINAL_STATUSES, status
        self._stop_heartbeats(run_id)
        with self._write() as db:
            # A run another process already ended (it judged the lease lapsed) keeps that ending: this process
            # went on unseen, and the runs after it were planned on the ending recorded then.
            ended = db.execute("UPDATE runs SET status = ?, finished_at = ?, error = ?, error_class = ?, "
                               "lease_expires_at = NULL WHERE id = ? AND status = 'running'",
                               (status, self._now(), error, error_class, run_id)).rowcount == 1
            self._save_counts(db, run_id, counts, phases, notes if ended else notes + [
                f"This process went on after the run was marked interrupted and stopped as {status}"
                + (f": {error}" if error else "")])
        if self._running == run_id:
            self._running = None
        if ended and status in ("healthy", "warning") and backup.due(self.path):  # a rolling backup: see backup.py
            backup.take(self._db, self.path, lambda: quick_check(self._db, self.path))

    @staticmethod
    def _save_counts(db, run_id, counts: RunCounts, phases, notes) -> None:
        db.execute("UPDATE runs SET counts = ?, by_operation = ?, standing = ?, phases = ?, notes = ? WHERE id = ?",
                   (json.dumps(counts.as_dict()), json.dumps(counts.by_operation), json.dumps(counts.standing()),
                    json.dumps(phases), json.dumps(notes), run_id))

    def set_requested_by(self, run_id: int, requested_by: str) -> None:
        with self._write() as db:
            db.execute("UPDATE runs SET requested_by = ? WHERE id = ?", (requested_by, run_id))

    def set_mqr_new(self, run_id: int, records: int) -> None:
        with self._write() as db:
            db.execute("UPDATE runs SET mqr_new = ? WHERE id = ?", (records, run_id))

    def set_phase(self, run_id: int, phase: str) -> None:
        with self._write() as db:
            db.execute("UPDATE runs SET phase = ? WHERE id = ?", (phase, run_id))

    def mark_interrupted_runs(self) -> list[int]:
        """Runs left `running` by a process that is gone (killed, crashed, lost) become `interrupted`."""
        dead = self._dead_runs()
        if dead:
            with self._write() as db:
                for run_id in dead:
                    self._interrupt(db, run_id)
        return dead

    def _holders(self, db: sqlite3.Connection, where: str = "1", args: tuple = ()) -> list[tuple[int, Holder]]:
        """The running runs matching `where`, and who holds each. A store an older sync-core wrote (read
        read-only, without migrating) may lack the newer columns: they read as NULL."""
        have = {row[1] for row in db.execute("PRAGMA main.table_info(runs)")}
        columns = ", ".join(c if c in have else "NULL" for c in HOLDER_COLUMNS)
        rows = db.execute(f"SELECT id, {columns} FROM main.runs WHERE status = 'running' AND {where}", args)
        return [(row[0], Holder(*row[1:])) for row in rows.fetchall()]

    def _dead_runs(self) -> list[int]:
        """Runs recorded as running whose lease expired, or whose process on this host is gone (module doc)."""
        now, here = self.lease_clock.now(), process.host()
        return [run_id for run_id, holder in self._holders(self._db) if not holder.alive(now, here)]

    def run_process(self, run_id: int) -> tuple[int | None, bool]:
        """The run's pid, and whether the run is alive (its lease, and on this host its process)."""
        row = self._db.execute("SELECT pid FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            return None, False
        holders = self._holders(self._db, "id = ?", (run_id,))
        return row[0], bool(holders) and holders[0][1].alive(self.lease_clock.now(), process.host())

    def cancel_run(self, run_id: int) -> bool:
        """Mark a running run interrupted by hand (`sync-core run-cancel --force`); False if it was not running."""
        with self._write() as db:
            return self._interrupt(db, run_id, CANCELLED_ERROR)

    def _interrupt(self, db, run_id: int, error: str = INTERRUPTED_ERROR) -> bool:
        return db.execute("UPDATE runs SET status = 'interrupted', finished_at = ?, error = ?, error_class = "
                          "'transient', lease_expires_at = NULL WHERE id = ? AND status = 'running'",
                          (self._now(), error, run_id)).rowcount == 1

    def get_run(self, run_id: int) -> RunRecord | None:
        return self._fetch_one(run_from_row, f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))

    def running_runs(self) -> list[RunRecord]:
        """Runs in progress, with their counts so far."""
        return self._fetch_all(run_from_row, f"SELECT {RUN_COLUMNS} FROM runs WHERE status = 'running' ORDER BY id")

    def list_runs(self, *, sync_id: str | None = None, limit: int | None = None) -> list[RunRecord]:
        sql = f"SELECT {RUN_COLUMNS} FROM runs"
        args: list = []
        if sync_id:
            sql += " WHERE sync_id = ?"
            args.append(sync_id)
        sql += " ORDER BY id DESC"
        if limit:
            sql += " LIMIT ?"
            args.append(limit)
        return [run_from_row(r) for r in self._db.execute(sql, args)]



class Heartbeat:
    """Renews a run's lease every `every` seconds from a thread of its own, until stopped."""

    def __init__(self, renew: Callable[[], None], every: float):
        self._renew, self._every = renew, every
        self._wake = threading.Event()
        self._stopped = False
        self._served = threading.Condition()
        self._requested = self._done = 0
        self._thread = threading.Thread(target=self._loop, name="lease-heartbeat", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            self._wake.wait(self._every)
            with self._served:
                if self._stopped:
                    return
                self._wake.clear()
                serving = self._requested
            try:
                self._renew()
            except Exception as exc:  # the run's own next write meets the same problem, and reports it
                log.warning("could not renew a run's lease: %s", exc)
            with self._served:
                self._done = serving
                self._served.notify_all()

    def beat(self) -> None:
        """Renew now, from the heartbeat's thread, and wait until it has."""
        with self._served:
            self._requested += 1
            wanted = self._requested
            self._wake.set()
            self._served.wait_for(lambda: self._done >= wanted or self._stopped)

    def stop(self) -> None:
        with self._served:
            self._stopped = True
            self._wake.set()
            self._served.notify_all()
        self._thread.join()


RUN_COLUMNS = ("id, sync_id, trigger, status, run_type, full_resync, config_fingerprint, started_at, finished_at,"
               " counts, by_operation, standing, phases, notes, error, error_class, requested_by, phase,"
               " cancel_requested_by, mqr_new, retry_failed, resend")


def run_from_row(row) -> RunRecord:
    (run_id, sync_id, trigger, status, run_type, full_resync, fingerprint, started, finished,
     counts, by_operation, standing, phases, notes, error, error_class, requested_by, phase, cancel_by, mqr_new,
     retry_failed, resend) = row
    return RunRecord(run_id, sync_id, trigger, status, run_type, bool(full_resync), fingerprint, started,
                     finished, RunCounts.from_dict(json.loads(counts) | json.loads(standing), json.loads(by_operation)),
                     json.loads(phases), json.loads(notes), error, error_class, requested_by, phase, cancel_by, mqr_new,
                     bool(retry_failed), bool(resend))


