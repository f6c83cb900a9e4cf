"""The run log: one row per run, from `start_run` to `finish_run`, with its counts written after every batch (so
an interrupted run still shows how far it got), and which runs recorded as `running` are still alive.

A part of StateStore (a mixin over its connection, write transactions and clock)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

from ..counts import RunCounts
from ..errors import WorkspaceBusyError
from . import backup, process
from .integrity import quick_check

INTERRUPTED_ERROR = ("the process running this sync stopped before it finished; rows it had not confirmed are "
                     "sent again by the next run")
CANCELLED_ERROR = ("cancelled with `sync-core run-cancel`: marked interrupted by hand (sync-core did not stop its "
                   "process); rows it had not confirmed are sent again by the next run")
TERMINAL_STATUSES = ("healthy", "warning", "failed", "interrupted", "planned", "blocked")


def iso_utc(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, timezone.utc).isoformat(timespec="seconds")


@dataclass
class RunRecord:
    id: int
    sync_id: str
    trigger: str
    status: str
    dry_run: bool
    full_resync: bool
    config_fingerprint: str
    started_at: str
    finished_at: str | None
    counts: RunCounts
    phases: dict[str, float]
    notes: list[str]
    error: str | None
    error_class: str | None

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
                "dry_run": self.dry_run, "full_resync": self.full_resync,
                "config_fingerprint": self.config_fingerprint, "started_at": self.started_at,
                "finished_at": self.finished_at, "counts": self.counts.as_dict(),
                "by_operation": self.counts.by_operation, "standing": self.counts.standing(),
                "phases": self.phases, "notes": self.notes,
                "error": self.error, "error_class": self.error_class}



class RunLog:
    # ---- runs -------------------------------------------------------------------------------------

    def start_run(self, sync_id: str, *, trigger: str, config_fingerprint: str, dry_run: bool = False,
                  full_resync: bool = False) -> int:
        """Record a new running run; refuse if this sync already has one running in a live process, or if the
        store fails SQLite's quick check (run here, not at every open: see integrity.py)."""
        with self._translated():
            quick_check(self._db, self.path)
        pid, started = process.current()
        with self._write() as db:
            running = db.execute("SELECT id, pid, pid_started FROM runs WHERE sync_id = ? AND status = 'running'",
                                 (sync_id,)).fetchall()
            for run_id, run_pid, run_started in running:
                if process.alive(run_pid, run_started):
                    raise WorkspaceBusyError(
                        f"sync '{sync_id}' is already running (run {run_id}, process {run_pid}); wait for it to "
                        f"finish. If that process is not running this sync, `sync-core run-cancel {run_id}` "
                        "marks the run interrupted")
                self._interrupt(db, run_id)
            cursor = db.execute(
                "INSERT INTO runs (sync_id, trigger, status, dry_run, full_resync, config_fingerprint, started_at, pid,"
                " pid_started) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?)",
                (sync_id, trigger, int(dry_run), int(full_resync), config_fingerprint, self._now(), pid, started))
            self._running = cursor.lastrowid
            return cursor.lastrowid

    def save_progress(self, run_id: int, counts: RunCounts, phases: dict[str, float], notes: list[str]) -> None:
        with self._write() as db:
            self._save_counts(db, run_id, counts, phases, notes)

    def finish_run(self, run_id: int, *, status: str, counts: RunCounts, phases: dict[str, float],
                   notes: list[str], error: str | None = None, error_class: str | None = None) -> None:
        assert status in TERMINAL_STATUSES, status
        with self._write() as db:
            self._save_counts(db, run_id, counts, phases, notes)
            db.execute("UPDATE runs SET status = ?, finished_at = ?, error = ?, error_class = ? WHERE id = ?",
                       (status, self._now(), error, error_class, run_id))
        if self._running == run_id:
            self._running = None
        if status in ("healthy", "warning") and backup.due(self.path):  # a rolling backup: see backup.py
            backup.take(self._db, self.path, lambda: quick_check(self._db, self.path))

    @staticmethod
    def _save_counts(db, run_id, counts: RunCounts, phases, notes) -> None:
        db.execute("UPDATE runs SET counts = ?, by_operation = ?, standing = ?, phases = ?, notes = ? WHERE id = ?",
                   (json.dumps(counts.as_dict()), json.dumps(counts.by_operation), json.dumps(counts.standing()),
                    json.dumps(phases), json.dumps(notes), run_id))

    def mark_interrupted_runs(self) -> list[int]:
        """Runs left `running` by a process that is gone (killed, crashed) become `interrupted`."""
        dead = self._dead_runs()
        if dead:
            with self._write() as db:
                for run_id in dead:
                    self._interrupt(db, run_id)
        return dead

    def _dead_runs(self) -> list[int]:
        """Runs recorded as running whose process is gone, or is another process now (a reused pid)."""
        started = "pid_started" if self._db.execute("PRAGMA user_version").fetchone()[0] >= 4 else "NULL"  # read-only
        rows = self._db.execute(f"SELECT id, pid, {started} FROM runs WHERE status = 'running'").fetchall()
        return [run_id for run_id, pid, started in rows if not process.alive(pid, started)]

    def run_process(self, run_id: int) -> tuple[int | None, bool]:  # the pid, and whether it still runs
        row = self._db.execute("SELECT pid, pid_started FROM runs WHERE id = ?", (run_id,)).fetchone()
        return (row[0], process.alive(*row)) if row else (None, False)

    def cancel_run(self, run_id: int) -> bool:
        """Mark a running run interrupted by hand (`sync-core run-cancel`); False if it was not running."""
        with self._write() as db:
            return self._interrupt(db, run_id, CANCELLED_ERROR)

    def _interrupt(self, db, run_id: int, error: str = INTERRUPTED_ERROR) -> bool:
        return db.execute("UPDATE runs SET status = 'interrupted', finished_at = ?, error = ?, error_class = "
                          "'transient' WHERE id = ? AND status = 'running'", (self._now(), error, run_id)).rowcount == 1

    def get_run(self, run_id: int) -> RunRecord | None:
        row = self._db.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return run_from_row(row) if row else None

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


RUN_COLUMNS = ("id, sync_id, trigger, status, dry_run, full_resync, config_fingerprint, started_at, finished_at,"
               " counts, by_operation, standing, phases, notes, error, error_class")


def run_from_row(row) -> RunRecord:
    (run_id, sync_id, trigger, status, dry_run, full_resync, fingerprint, started, finished,
     counts, by_operation, standing, phases, notes, error, error_class) = row
    return RunRecord(run_id, sync_id, trigger, status, bool(dry_run), bool(full_resync), fingerprint, started,
                     finished, RunCounts.from_dict(json.loads(counts) | json.loads(standing), json.loads(by_operation)),
                     json.loads(phases), json.loads(notes), error, error_class)


