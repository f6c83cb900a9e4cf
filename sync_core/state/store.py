"""The state store: run history, row outcomes, snapshots and the MQR ledger, in one SQLite file.

The app, the CLI and workers are separate processes, so: WAL mode (readers never block the writer), a busy
timeout, and short `BEGIN IMMEDIATE` write transactions. Nothing outside this package writes SQL against the
store: the rest of sync_core reaches it through this class and its parts (run_log.py, run_queue.py,
known_identifiers.py, mqr_ledger.py, alert_log.py, credential_log.py, reconciliations.py, and reports.py for the
read-only reports). Their SQL is SQLite's, so a server database would replace this package, not its callers.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import sqlite3
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

import pyarrow as pa

from ..clock import Clock, SystemClock
from ..arrow_values import strings
from ..errors import RunFenced
from ..outcomes import RowProblem
from ..wal import write_transaction
from .alert_log import AlertLog
from .bulk_cache import BulkCache, cache_folder, read_table
from .credential_log import CredentialLog
from .integrity import as_state_error, open_read_only, open_read_write, show_as_interrupted
from .known_identifiers import KnownIdentifierCache
from .key_state import (KEY_STATE_SPILL, REJECTION_SCHEMA, SNAPSHOT_SCHEMA, KeyState, KeyStateChanges,
                        Stamp)
from .mqr_ledger import MqrLedger
from .reconciliations import ReconciliationLog
from .run_log import INTERRUPTED_ERROR, RunLog, RunProgress, iso_utc
from .run_queue import RunQueue
from .schema import identity, migrate

EXAMPLES_PER_CAUSE = 5
_SNAPSHOT_UPSERT = ("ON CONFLICT (sync_id, key) DO UPDATE SET row_hash = excluded.row_hash, run_id = excluded.run_id, "
                    "destination_id = excluded.destination_id")
T = TypeVar("T")


@dataclass(frozen=True)
class CauseRows:
    """How many rows one cause left with one outcome (a run's, or the current state's)."""
    cause_id: int
    code: str
    error_class: str
    template: str
    outcome: str
    rows: int


@dataclass(frozen=True)
class CauseSummary(CauseRows):
    example_keys: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RejectionRecord:
    """One key in the current rejection state."""
    sync_id: str
    key: str
    outcome: str
    code: str
    error_class: str
    message: str
    first_seen: str
    last_seen: str
    times_seen: int
    first_run_id: int
    last_run_id: int


def _translating_errors(cls):
    """Every public method of the store (and `_select`, the reports') raises SQLite's errors as the errors a user
    can act on (`_translated`): damage met by a read in the middle of a run is StateDamaged, which the run
    records as its error (runner.run_sync), not an internal error."""
    for name, method in inspect.getmembers(cls, inspect.isfunction):
        if (name == "_select" or not name.startswith("_")) and name != "close" and not isinstance(
                inspect.getattr_static(cls, name), staticmethod):
            setattr(cls, name, _translating(method))
    return cls


def _translating(method):
    @functools.wraps(method)
    def translated(self, *args, **kwargs):
        with self._translated():
            return method(self, *args, **kwargs)
    return translated


@_translating_errors
class StateStore(RunLog, RunQueue, KnownIdentifierCache, MqrLedger, AlertLog, CredentialLog, ReconciliationLog):
    """Opening one checks the file (integrity.py): a damaged store raises StateDamaged, a failed write
    StateUnwritable, each naming the file and the next step; so do SQLite's errors in any of its methods.
    `read_only` (commands that only read, the dashboard): no migration, no write lock, no file written."""

    def __init__(self, path: str | Path, *, clock: Clock | None = None, read_only: bool = False,
                 lease_clock: Clock | None = None):
        self.path = Path(path)
        self.clock = clock or SystemClock()  # timestamps come from it (the demo dates its history with it)
        self.lease_clock = lease_clock or SystemClock()  # runs' leases: real time, compared across processes
        self.read_only = read_only
        self._running: int | None = None  # the run this store started and has not finished
        self._heartbeats = {}  # by run id: each renews the lease of a run this store started (run_log.py)
        self._own_bumps: Counter[str] = Counter()  # state_versions bumps made through this connection
        with self._translated():
            self._db = (open_read_only if read_only else open_read_write)(self.path)
            try:
                if read_only:
                    show_as_interrupted(self._db, self._dead_runs(), INTERRUPTED_ERROR)
                else:
                    migrate(self._db, self.path)
                    self.mark_interrupted_runs()
                self.identity = identity(self._db)  # a random id made with the store: see bulk_cache.py
            except BaseException:
                self._db.close()
                raise
        self._cache = BulkCache(cache_folder(self.path), identity=self.identity, read_only=read_only)

    def sibling(self) -> "StateStore":
        """This store on a connection of its own, for work on another thread while this one writes (a run's MQR
        ledger beside its sends; a connection serves one transaction at a time). Nothing is checked or migrated
        again; the cached copies and this process's count of its own bumps are shared. Close it when done."""
        twin = copy.copy(self)
        twin._db = open_read_write(self.path)
        twin._heartbeats = {}  # the runs' leases stay with this store
        return twin

    def close(self) -> None:
        self._stop_heartbeats()
        self._db.close()

    def __enter__(self) -> "StateStore":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()
        error = as_state_error(exc, self.path, running_run=self._running)
        if error is not None:
            raise error from exc

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """SQLite's errors on this store as errors a user can act on (damage, a failed write)."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            error = as_state_error(exc, self.path, running_run=self._running)
            if error is None:
                raise
            raise error from exc

    def _now(self) -> str:
        return iso_utc(self.clock.now())

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._translated(), write_transaction(self._db) as db:
            yield db

    # ---- versions of bulk state, for its cached copies ---------------------------------------------------

    def _bump(self, db: sqlite3.Connection, name: str) -> int:
        """Inside a write transaction that changes `name`: cached copies of it are no longer current. Returns
        the new version (the one this transaction's state has)."""
        self._own_bumps[name] += 1
        return db.execute("INSERT INTO state_versions (name, version) VALUES (?, 1) ON CONFLICT (name) "
                          "DO UPDATE SET version = version + 1 RETURNING version", (name,)).fetchone()[0]

    def _stamp(self, name: str) -> Stamp:
        row = self._db.execute("SELECT version FROM state_versions WHERE name = ?", (name,)).fetchone()
        return Stamp(name, row[0] if row else 0, self._own_bumps[name])

    def _version_if_only_ours(self, stamp: Stamp) -> int | None:
        """The current version of the stamp's state if only this connection wrote it since the stamp."""
        current = self._stamp(stamp.name)
        return current.version if current.version - stamp.version == current.own_bumps - stamp.own_bumps else None

    def _read_through(self, name: str, stamp: Stamp, read: Callable[[], pa.Table]) -> pa.Table:
        """The cached copy of `name` at the stamp's version, else `read()` from SQLite, cached for next time."""
        table = self._cache.load(name, stamp.version)
        if table is None:
            table = read()
            self._cache.save(name, stamp.version, table)
        return table

    @contextmanager
    def _consistent_read(self) -> Iterator[None]:
        """Several reads from one point in time (WAL: a read transaction sees one snapshot)."""
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    # ---- snapshot and rejection state ----------------------------------------------------------------

    def snapshot_table(self, sync_id: str) -> pa.Table:
        """(key, row_hash) of every row the destination confirmed, for the planner's diff."""
        return read_table(self._db.execute("SELECT key, row_hash FROM snapshot WHERE sync_id = ?", (sync_id,)),
                          SNAPSHOT_SCHEMA)

    def key_state(self, sync_id: str) -> KeyState:
        """The snapshot and rejection keys of a sync, for the planner: from the cached copy when it is current
        (1M keys in milliseconds), else from SQLite (seconds), and then cached."""
        name = f"sync:{sync_id}"
        stamp = self._stamp(name)
        snapshot = self._cache.load(f"snapshot:{sync_id}", stamp.version)
        rejections = self._cache.load(f"rejections:{sync_id}", stamp.version)
        if snapshot is not None and rejections is not None:
            return KeyState(sync_id, snapshot, rejections, stamp, from_cache=True)
        with self._consistent_read():
            stamp = self._stamp(name)
            snapshot, rejections = self.snapshot_table(sync_id), self.rejection_table(sync_id)
        self._save_key_state(sync_id, stamp.version, snapshot, rejections)
        return KeyState(sync_id, snapshot, rejections, stamp)

    def key_state_changes(self) -> KeyStateChanges:
        """An empty record of a run's key-state changes, spooled next to this store's cached copies."""
        return KeyStateChanges(self._cache.folder / KEY_STATE_SPILL)

    def save_key_state(self, state: KeyState, changes: KeyStateChanges) -> bool:
        """Cache the state a run leaves: its starting copy plus the changes it committed. Skipped (False) when
        another process wrote this sync's state meanwhile, or the changes could not be applied (the spill
        folder's disk full); the next run then reads SQLite."""
        version = self._version_if_only_ours(state.stamp)
        if version is None:
            return False
        return changes.apply(state.snapshot, state.rejections,
                             lambda part, batches: self._cache.save(f"{part}:{state.sync_id}", version, batches),
                             spill=self._cache.folder / KEY_STATE_SPILL)

    def _save_key_state(self, sync_id: str, version: int, snapshot: pa.Table, rejections: pa.Table) -> None:
        self._cache.save(f"snapshot:{sync_id}", version, snapshot)
        self._cache.save(f"rejections:{sync_id}", version, rejections)

    # ---- full resyncs in progress ----------------------------------------------------------------------

    def resync_in_progress(self, sync_id: str) -> int | None:
        """The run that started a full resync of the sync not yet completed by any run, if there is one."""
        row = self._db.execute("SELECT run_id FROM resync_intents WHERE sync_id = ?", (sync_id,)).fetchone()
        return row[0] if row else None

    def start_resync(self, sync_id: str, run_id: int) -> int:
        """Note that a full resync starts; an unfinished earlier one keeps its start (its rows confirmed before it
        are still owed). Returns the run the resync counts from."""
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO resync_intents (sync_id, run_id, started_at) VALUES (?, ?, ?)",
                       (sync_id, run_id, self._now()))
            return db.execute("SELECT run_id FROM resync_intents WHERE sync_id = ?", (sync_id,)).fetchone()[0]

    def finish_resync(self, sync_id: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM resync_intents WHERE sync_id = ?", (sync_id,))

    def confirmed_before(self, sync_id: str, run_id: int) -> pa.Array:
        """Keys of the snapshot last confirmed by a run before `run_id`."""
        return strings([k for (k,) in self._db.execute(
            "SELECT key FROM snapshot WHERE sync_id = ? AND run_id < ?", (sync_id, run_id))])

    def snapshot_fingerprint(self, sync_id: str) -> str | None:
        row = self._db.execute("SELECT config_fingerprint FROM snapshot_meta WHERE sync_id = ?", (sync_id,)).fetchone()
        return row[0] if row else None

    def snapshot_keys(self, sync_id: str) -> set[str]:
        return {k for (k,) in self._db.execute("SELECT key FROM snapshot WHERE sync_id = ?", (sync_id,))}

    def destination_ids(self, sync_id: str) -> dict[str, str]:
        """key -> the destination's id of the record the key last wrote (Marketo's marketoGUID), where given."""
        return dict(self._db.execute("SELECT key, destination_id FROM snapshot WHERE sync_id = ? AND "
                                     "destination_id IS NOT NULL", (sync_id,)).fetchall())

    def rejection_table(self, sync_id: str) -> pa.Table:
        """(key, row_hash, cause_id) of the current rejection state. A row rejected or failed with these values
        is planned again as `retried`; row_hash is null for rows the planner refused (duplicate keys)."""
        return read_table(self._db.execute("SELECT key, row_hash, cause_id FROM rejections WHERE sync_id = ?",
                                           (sync_id,)), REJECTION_SCHEMA)

    def real_problem_keys(self, sync_id: str) -> pa.Array:
        """Keys whose rows failed or were rejected for a real reason (not an expected one): a retry's rows."""
        rows = self._db.execute("SELECT r.key FROM rejections r JOIN causes c ON c.id = r.cause_id "
                                "WHERE r.sync_id = ? AND c.error_class <> 'expected'", (sync_id,)).fetchall()
        return strings([k for (k,) in rows])

    def cause_id(self, code: str, error_class: str, template: str) -> int:
        with self._write() as db:
            return self._cause_id(db, code, error_class, template)

    def count_repeats(self, run_id: int, cause_id: int, outcome: str, rows: int, example_keys: list[str]) -> None:
        """Rows rejected again exactly as before: they count in the run's causes, their state rows are not
        rewritten one by one (sweep_rejections marks them seen once the run has tried every row)."""
        with self._write() as db:
            self._add_run_cause(db, run_id, cause_id, outcome, rows, example_keys)

    def sweep_rejections(self, sync_id: str, run_id: int) -> None:
        """After a run that tried every planned row: rejections it did not rewrite were rejected again as
        before (retried rows refused for the same cause), so they were seen in this run too.

        One row records that, not an update of each of them (500k not-found rows took 5 s): the view
        `rejection_state` adds the sweeps after a row's last write to its last_seen, times_seen and last_run_id."""
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO rejection_sweeps (sync_id, run_id, swept_at, seq) SELECT ?, ?, ?, "
                       "coalesce(MAX(seq), 0) + 1 FROM rejection_sweeps WHERE sync_id = ?",
                       (sync_id, run_id, self._now(), sync_id))

    def commit_batch(self, run_id: int, sync_id: str, *, fingerprint: str, synced: Iterable[tuple[str, str]] = (),
                     removed: Iterable[str] = (), problems: Iterable[RowProblem] = (),
                     destination_ids: dict[str, str] | None = None, progress: RunProgress | None = None) -> None:
        """One transaction per destination batch: confirmed rows enter the snapshot (and leave the rejection
        state), removed keys leave it, and problems update the rejection state and the run's causes.
        `destination_ids`: key -> the destination's id of the record written, when it gives one. `progress`: the
        run's counts with this batch settled, written (and the lease renewed) in the same transaction, so a
        request's outcome costs one commit.
        A crash loses at most the batch in flight and never marks an unsent row as synced."""
        now = self._now()
        synced = list(synced)
        ids = destination_ids or {}
        removed = list(removed)
        problems = list(problems)
        with self._write() as db:
            fenced = self._marked_interrupted(db, run_id)  # read in the batch's own transaction: no gap
            if fenced:
                self._forget(db, sync_id, [k for k, _ in synced] + removed)
            else:
                self._record_batch(db, run_id, sync_id, fingerprint, synced, removed, problems, ids, now)
                if progress is not None:
                    self._write_progress(db, run_id, progress)
        if fenced:
            raise RunFenced(f"run {run_id} was marked interrupted by another process while it was still sending "
                            "(its lease lapsed, or `run-cancel --force`): it stopped, and the rows of its last batch "
                            "are sent again by the next run")

    def _record_batch(self, db, run_id, sync_id, fingerprint, synced, removed, problems, ids, now) -> None:
        if synced:
            # In key order: neighbouring keys share B-tree pages, so a model in any order inserts a batch with
            # fewer page visits (1,000 random keys a batch: about 15% less CPU). A stable sort: were a key there
            # twice, its last row would still win.
            rows = [(k, h, ids.get(k)) for k, h in sorted(synced, key=itemgetter(0))]
            # One statement over the batch as JSON: SQLite makes the rows in C and releases the GIL once, where
            # binding 1,000 rows hands it over at every row, to the sending threads (a request's commit: about
            # 12% less wall time, 7% less CPU, docs/benchmarks.md). SQLite's JSON functions cut a text at a NUL:
            # a batch holding one (or a key spelling `\u0000`) is bound row by row, as before.
            text = json.dumps(rows, ensure_ascii=False)
            if "\\u0000" in text:
                db.executemany("INSERT INTO snapshot (sync_id, key, row_hash, run_id, destination_id) VALUES "
                               f"(?, ?, ?, ?, ?) {_SNAPSHOT_UPSERT}", [(sync_id, k, h, run_id, i) for k, h, i in rows])
            else:
                db.execute("INSERT INTO snapshot (sync_id, key, row_hash, run_id, destination_id) SELECT ?1, "
                           "value ->> 0, value ->> 1, ?2, value ->> 2 FROM json_each(?3) WHERE true "
                           f"{_SNAPSHOT_UPSERT}",
                           (sync_id, run_id, text))
            # A seek per key only when the sync has rejections at all (a first run has none)
            if db.execute("SELECT 1 FROM rejections WHERE sync_id = ? LIMIT 1", (sync_id,)).fetchone():
                db.executemany("DELETE FROM rejections WHERE sync_id = ? AND key = ?",
                               [(sync_id, k) for k, _ in synced])
        if removed:
            db.executemany("DELETE FROM snapshot WHERE sync_id = ? AND key = ?", [(sync_id, k) for k in removed])
        if synced or removed:
            db.execute("INSERT INTO snapshot_meta (sync_id, config_fingerprint, updated_at) VALUES (?, ?, ?) "
                       "ON CONFLICT (sync_id) DO UPDATE SET config_fingerprint = excluded.config_fingerprint, "
                       "updated_at = excluded.updated_at", (sync_id, fingerprint, now))
        if problems:
            self._record_problems(db, run_id, sync_id, problems, now)
        self._bump(db, f"sync:{sync_id}")

    @staticmethod
    def _marked_interrupted(db, run_id: int) -> bool:
        """Another process ended this run while it ran (it judged the lease lapsed, or `run-cancel --force`)."""
        return db.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone() == ("interrupted",)

    def _forget(self, db, sync_id: str, keys: list[str]) -> None:
        """A fenced run's batch (RunFenced): another process marked the run interrupted and may have sent these
        rows since, with newer values, which this batch may have overwritten. The snapshot forgets them, so the
        next run sends them again; nothing else of the batch is recorded."""
        db.executemany("DELETE FROM snapshot WHERE sync_id = ? AND key = ?", [(sync_id, k) for k in keys])
        self._bump(db, f"sync:{sync_id}")

    def _record_problems(self, db, run_id: int, sync_id: str, problems: Iterable[RowProblem], now: str) -> None:
        per_cause: dict[tuple[int, str], list] = {}
        state_rows = []
        # A key held by several rows of the model (invalid: a duplicate) is one state row, seen once a run; only
        # invalid keys repeat, so only they are remembered (a run may refuse 500k rows in one call)
        invalid_keys: set[str] = set()
        cause_ids: dict[tuple[str, str, str], int] = {}
        latest_sweep = db.execute("SELECT coalesce(MAX(seq), 0) FROM rejection_sweeps WHERE sync_id = ?",
                                  (sync_id,)).fetchone()[0]
        for p in problems:
            ident = (p.code, p.error_class, p.template)
            if ident not in cause_ids:
                cause_ids[ident] = self._cause_id(db, *ident)
            cause_id = cause_ids[ident]
            entry = per_cause.setdefault((cause_id, p.outcome), [0, []])
            entry[0] += 1
            if p.key is not None:
                if len(entry[1]) < EXAMPLES_PER_CAUSE and p.key not in entry[1]:  # a duplicated key: once
                    entry[1].append(p.key)
                if p.outcome == "invalid":
                    if p.key in invalid_keys:
                        continue
                    invalid_keys.add(p.key)
                state_rows.append((sync_id, p.key, p.row_hash, p.outcome, cause_id, p.message, now, now, run_id, run_id,
                                   latest_sweep))
        # Rewriting a row moves its last_run_id past the sweeps it has not absorbed yet: fold them into times_seen
        # (the sync's latest sweep's seq, less that of the last sweep the row had seen: one primary-key seek).
        db.executemany(
            "INSERT INTO rejections (sync_id, key, row_hash, outcome, cause_id, message, first_seen, last_seen,"
            " times_seen, first_run_id, last_run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?) "
            "ON CONFLICT (sync_id, key) DO UPDATE SET row_hash = excluded.row_hash, outcome = excluded.outcome,"
            " cause_id = excluded.cause_id, message = excluded.message, last_seen = excluded.last_seen,"
            " times_seen = rejections.times_seen + 1 + ?11 - coalesce((SELECT s.seq FROM rejection_sweeps s"
            " WHERE s.sync_id = rejections.sync_id AND s.run_id <= rejections.last_run_id"
            " ORDER BY s.run_id DESC LIMIT 1), 0),"
            " last_run_id = excluded.last_run_id", state_rows)
        for (cause_id, outcome), (rows, examples) in per_cause.items():
            self._add_run_cause(db, run_id, cause_id, outcome, rows, examples)

    @staticmethod
    def _add_run_cause(db, run_id: int, cause_id: int, outcome: str, rows: int, examples: list[str]) -> None:
        existing = db.execute("SELECT rows, example_keys FROM run_causes WHERE run_id = ? AND cause_id = ? "
                              "AND outcome = ?", (run_id, cause_id, outcome)).fetchone()
        if existing:
            rows += existing[0]
            examples = (json.loads(existing[1]) + examples)[:EXAMPLES_PER_CAUSE]
        db.execute("INSERT OR REPLACE INTO run_causes (run_id, cause_id, outcome, rows, example_keys) "
                   "VALUES (?, ?, ?, ?, ?)", (run_id, cause_id, outcome, rows, json.dumps(examples)))

    @staticmethod
    def _cause_id(db, code: str, error_class: str, template: str) -> int:
        db.execute("INSERT OR IGNORE INTO causes (code, error_class, template) VALUES (?, ?, ?)",
                   (code, error_class, template))
        return db.execute("SELECT id FROM causes WHERE code = ? AND error_class = ? AND template = ?",
                          (code, error_class, template)).fetchone()[0]

    def forget_rejections(self, sync_id: str, keys: Iterable[str]) -> None:
        """Keys the model no longer returns have no current rejection state."""
        with self._write() as db:
            db.executemany("DELETE FROM rejections WHERE sync_id = ? AND key = ?", [(sync_id, k) for k in keys])
            self._bump(db, f"sync:{sync_id}")

    # ---- failures: causes and the current rejection state ----------------------------------------------

    def run_causes(self, run_id: int) -> list[CauseSummary]:
        rows = self._db.execute(
            "SELECT c.id, c.code, c.error_class, c.template, rc.outcome, rc.rows, rc.example_keys "
            "FROM run_causes rc JOIN causes c ON c.id = rc.cause_id WHERE rc.run_id = ? ORDER BY rc.rows DESC",
            (run_id,)).fetchall()
        return [CauseSummary(*r[:6], json.loads(r[6])) for r in rows]

    def rejections(self, *, sync_id: str | None = None, cause_id: int | None = None, key: str | None = None,
                   limit: int | None = None) -> list[RejectionRecord]:
        where, args = _filters(sync_id=sync_id, cause_id=cause_id, key=key)
        sql = (f"SELECT r.sync_id, r.key, r.outcome, c.code, c.error_class, r.message, r.first_seen, r.last_seen,"
               f" r.times_seen, r.first_run_id, r.last_run_id FROM rejection_state r JOIN causes c ON c.id = r.cause_id"
               f" {where} ORDER BY r.last_seen DESC, r.key")
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [RejectionRecord(*r) for r in self._db.execute(sql, args)]

    def _fetch_one(self, make: Callable[[tuple], T], sql: str, params: tuple = ()) -> T | None:
        """The record the query's first row makes, or None when it finds none (the parts' `get_…` reads)."""
        row = self._db.execute(sql, params).fetchone()
        return make(row) if row else None

    def _fetch_all(self, make: Callable[[tuple], T], sql: str, params: tuple = ()) -> list[T]:
        return [make(row) for row in self._db.execute(sql, params)]

    def _select(self, sql: str, params: tuple | list = ()) -> list[sqlite3.Row]:
        """A query of the reports' (reports.py), its rows addressable by column name."""
        cursor = self._db.execute(sql, params)
        cursor.row_factory = sqlite3.Row
        return cursor.fetchall()


def _filters(**wanted) -> tuple[str, list]:
    columns = {"sync_id": "r.sync_id", "error_class": "c.error_class", "cause_id": "c.id", "key": "r.key"}
    clauses, args = [], []
    for name, value in wanted.items():
        if value is not None:
            clauses.append(f"{columns[name]} = ?")
            args.append(value)
    if wanted.get("key") is not None and wanted.get("sync_id") is None:
        # Through the primary key (sync_id, key), one sync at a time, rather than a scan.
        clauses.append("r.sync_id IN (SELECT DISTINCT sync_id FROM runs)")
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", args

