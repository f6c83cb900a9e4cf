"""Reconciliations as the state store keeps them: one row per reconciliation (its progress while it runs, its
summary once done) and the rows that did not match. One runs per sync at a time (a partial unique index on the
running ones); one left `running` by a process of this host that is gone reads as interrupted, and is marked so
when the next one starts.

A part of StateStore (a mixin over its connection and write transactions)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, replace
from typing import Iterable

from . import process
from .run_queue import Enqueued

KEEP_PER_SYNC = 20  # reconciliations kept per sync, with their rows; older ones are deleted when one finishes


class ReconciliationRunning(Exception):
    """Another reconciliation of the sync is running: the message names it and when it started."""


@dataclass(frozen=True)
class ReconciliationRecord:
    id: int
    sync_id: str
    status: str  # running | complete | partial | failed | interrupted
    requested_by: str | None
    started_at: str
    finished_at: str | None
    phase: str | None
    summary: dict | None  # the report without its rows (reconcile.report.Report.summary())
    error: str | None


_COLUMNS = "id, sync_id, status, requested_by, started_at, finished_at, phase, summary, error, host, pid, pid_started"
DEAD_ERROR = "its process ended before it finished"


def _record(row) -> ReconciliationRecord:
    """A `running` one whose process on this host is gone reads as interrupted (a reader may not write; the next
    start writes it so): else the dashboard would show it running, and its start button off, for ever."""
    *head, summary, error, host, pid, started = row
    record = ReconciliationRecord(*head, json.loads(summary) if summary else None, error)
    if record.status == "running" and _dead(host, pid, started):
        record = replace(record, status="interrupted", phase=None, error=DEAD_ERROR)
    return record


def _dead(host: str | None, pid: int | None, started) -> bool:
    """Its process is gone; asked only on the host that recorded it (elsewhere, that host alone can tell)."""
    return host == process.host() and pid is not None and not process.alive(pid, started)


class ReconciliationLog:
    def start_reconciliation(self, sync_id: str, requested_by: str | None) -> int:
        """Record a reconciliation as running in this process; ReconciliationRunning if one already is."""
        pid, started = process.current()
        with self._write() as db:
            self._interrupt_dead_reconciliations(db, sync_id)
            try:
                cursor = db.execute(
                    "INSERT INTO reconciliations (sync_id, status, requested_by, started_at, host, pid, pid_started, "
                    "phase) VALUES (?, 'running', ?, ?, ?, ?, ?, 'starting')",
                    (sync_id, requested_by, self._now(), process.host(), pid, started))
            except sqlite3.IntegrityError:
                rid, at = db.execute("SELECT id, started_at FROM reconciliations WHERE sync_id = ? AND "
                                     "status = 'running'", (sync_id,)).fetchone()
                raise ReconciliationRunning(f"reconciliation {rid} of this sync is running (started {at})") from None
            return cursor.lastrowid

    def _interrupt_dead_reconciliations(self, db: sqlite3.Connection, sync_id: str) -> None:
        for rid, host, pid, started in db.execute(
                "SELECT id, host, pid, pid_started FROM reconciliations WHERE sync_id = ? AND status = 'running'",
                (sync_id,)).fetchall():
            if _dead(host, pid, started):
                db.execute("UPDATE reconciliations SET status = 'interrupted', finished_at = ?, error = ? "
                           "WHERE id = ?", (self._now(), DEAD_ERROR, rid))

    def reconciliation_phase(self, reconciliation_id: int, phase: str) -> None:
        with self._write() as db:
            db.execute("UPDATE reconciliations SET phase = ? WHERE id = ?", (phase, reconciliation_id))

    def finish_reconciliation(self, reconciliation_id: int, *, status: str, summary: dict | None = None,
                              rows: Iterable[tuple] = (), error: str | None = None) -> None:
        """Record how it ended: its summary and mismatching rows (kind, key, field, model value, destination
        value, state), then keep only the newest KEEP_PER_SYNC reconciliations of its sync."""
        with self._write() as db:
            db.executemany("INSERT INTO reconciliation_rows (reconciliation_id, kind, key, field, model_value, "
                           "destination_value, state) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           ((reconciliation_id, *row) for row in rows))
            db.execute("UPDATE reconciliations SET status = ?, finished_at = ?, phase = NULL, summary = ?, error = ? "
                       "WHERE id = ?", (status, self._now(), json.dumps(summary) if summary is not None else None,
                                        error, reconciliation_id))
            sync_id = db.execute("SELECT sync_id FROM reconciliations WHERE id = ?",
                                 (reconciliation_id,)).fetchone()[0]
            old = "SELECT id FROM reconciliations WHERE sync_id = ? AND status <> 'running' ORDER BY id DESC LIMIT -1 OFFSET ?"
            db.execute(f"DELETE FROM reconciliation_rows WHERE reconciliation_id IN ({old})", (sync_id, KEEP_PER_SYNC))
            db.execute(f"DELETE FROM reconciliations WHERE id IN ({old})", (sync_id, KEEP_PER_SYNC))

    def reconciliations(self, sync_id: str, limit: int = KEEP_PER_SYNC) -> list[ReconciliationRecord]:
        """The sync's reconciliations, newest first."""
        return self._fetch_all(_record, f"SELECT {_COLUMNS} FROM reconciliations WHERE sync_id = ? "
                                        "ORDER BY id DESC LIMIT ?", (sync_id, limit))

    def reconciliation(self, reconciliation_id: int) -> ReconciliationRecord | None:
        return self._fetch_one(_record, f"SELECT {_COLUMNS} FROM reconciliations WHERE id = ?", (reconciliation_id,))

    def resend_keys(self, reconciliation_id: int) -> list[str]:
        """The keys of its differing and missing rows, each once."""
        return [k for (k,) in self._db.execute("SELECT DISTINCT key FROM reconciliation_rows WHERE "
                                               "reconciliation_id = ? ORDER BY key", (reconciliation_id,))]

    def enqueue_resend(self, reconciliation_id: int, *, trigger: str, requested_by: str) -> Enqueued:
        """Queue a run of the reconciliation's sync that sends only its differing and missing rows (the queue's
        rule holds: one open request per sync)."""
        with self._write() as db:
            (sync_id,) = db.execute("SELECT sync_id FROM reconciliations WHERE id = ?", (reconciliation_id,)).fetchone()
            asked = self._enqueue(db, sync_id, trigger, requested_by)
            if asked.new:
                db.execute("INSERT INTO reconciliation_resends (request_id, reconciliation_id) VALUES (?, ?)",
                           (asked.request_id, reconciliation_id))
            return asked

    def resend_of(self, request_id: int) -> int | None:
        """The reconciliation whose rows a queued request resends, if it is a resend."""
        row = self._db.execute("SELECT reconciliation_id FROM reconciliation_resends WHERE request_id = ?",
                               (request_id,)).fetchone()
        return row[0] if row else None

    def reconciliation_rows(self, reconciliation_id: int, kind: str | None = None) -> list[dict]:
        """Its mismatching rows: kind, key, field, model_value, destination_value, state."""
        where, args = ("AND kind = ?", (reconciliation_id, kind)) if kind else ("", (reconciliation_id,))
        cursor = self._db.execute("SELECT kind, key, field, model_value, destination_value, state FROM "
                                  f"reconciliation_rows WHERE reconciliation_id = ? {where} ORDER BY rowid", args)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]
