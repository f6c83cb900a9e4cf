"""One reconciliation of a sync: read the model now (the planner's query, keys and hashes, against the
snapshot), read the destination back (its ReadBack capability), compare field by field (compare.py), and
store the result (state/reconciliations.py).

It writes nothing to the destination and counts nothing in the MQR ledger. Its read takes a slot of the
credential's shared rate limits (the Iterable export's 4 a minute are shared with the runs' look-ups): whoever
comes after waits for the next slot, so neither a run nor a reconciliation meets a 429 for the other. A
destination whose records are many per person (ReadBackByRecordId: Marketo activities) is matched by the ids the
snapshot keeps (record_ids.py), and is told the window and the snapshot's size first (prepare_read), so it can
refuse a read its daily quota would not allow before anything is read. A read that still fails after the retries,
or stops part way (ReadStopped), leaves a partial report that says so: rows absent from a partial read are never
called missing."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

from ..clock import Clock, SystemClock
from ..config import Workspace
from ..destinations.base import ReadBack, ReadBackByRecordId, ReadBackField, ReadStopped, RecordReadBack, TransientError
from ..destinations.opening import open_destination
from ..errors import SyncCoreError
from ..executor import Executor
from ..hashing import quote
from ..planner import build_plan
from ..progress import RunObserver, SilentObserver
from ..secrets import redact
from ..sources import open_source
from ..state import StateStore
from ..state.reconciliations import ReconciliationRunning
from . import record_ids
from .compare import NORMALISATION, compared_sql, destination_columns
from .report import CHANGED_SINCE, NOT_YET_SYNCED, SYNCED_MISSING, Difference, FieldMatch, Funnel, Report

MAX_STORED_ROWS = 100_000  # mismatching rows kept per reconciliation (the counts are always whole)
READ_FOLDER = "reconcile-reads"  # in the state directory: the destination's records, streamed to disk


class ReconcileError(SyncCoreError):
    """A reconciliation that cannot start or finish: what, which sync, and what to do."""
    error_class = "config"


def reconcile(workspace: Workspace, sync_id: str, *, fields: list[str] | None = None, sample: int | None = None,
              observer: RunObserver | None = None, requested_by: str | None = None,
              clock: Clock | None = None) -> Report:
    """Compare the sync's model with what its destination holds, store the result and return it. Errors the
    user must fix raise ReconcileError (or the config, model and destination errors), recorded as `failed`."""
    sync = workspace.sync(sync_id)
    observer = observer or SilentObserver()
    clock = clock or SystemClock()
    if sample is not None and sample < 1:
        raise ReconcileError(f"reconcile {sync.id}: --sample must be a positive number of rows, not {sample}")
    destination = open_destination(workspace, sync, clock=clock)
    if not isinstance(destination, ReadBack):
        raise ReconcileError(f"reconcile {sync.id}: {sync.destination} {sync.object} cannot be read back yet, so "
                             "it cannot be reconciled (Iterable users, events and lists, and Marketo activities, can)")
    compared_fields = _chosen_fields(sync, _comparable(sync, destination), fields)
    with StateStore(workspace.state_path) as store:
        if not store.list_runs(sync_id=sync.id, limit=1):
            raise ReconcileError(f"reconcile {sync.id}: the sync has never run, so nothing says what the destination "
                                 f"should hold. Run it first: sync-core run {sync.id}")
        try:
            rid = store.start_reconciliation(sync.id, requested_by)
        except ReconciliationRunning as exc:
            raise ReconcileError(f"reconcile {sync.id}: {exc}; one runs per sync at a time. Wait for it, "
                                 "then look at its report (sync-core reconcile --history)") from None
        try:
            report = _Reconciliation(workspace, sync, destination, store, rid, observer, clock).run(
                compared_fields, sample)
        except BaseException as exc:
            store.finish_reconciliation(rid, status="failed", error=redact(str(exc)) or type(exc).__name__)
            raise
        rows = _stored_rows(report)
        store.finish_reconciliation(rid, status=report.status, summary=report.summary(), rows=rows)
    return report


def _comparable(sync, destination) -> list[ReadBackField]:
    """The fields a reconciliation of the sync can compare: the mapped ones, and the record's own when the
    destination's records have some (RecordReadBack)."""
    if isinstance(destination, RecordReadBack):
        return destination.read_back_fields()
    return [ReadBackField(m.field, m.column, m.null) for m in sync.mappings]


def _chosen_fields(sync, comparable: list[ReadBackField], fields: list[str] | None) -> list[ReadBackField]:
    if not fields:
        return comparable
    known = {f.field: f for f in comparable}
    unknown = [f for f in fields if f not in known]
    if unknown:
        raise ReconcileError(f"reconcile {sync.id}: --fields names {', '.join(unknown)}, which the sync does not map "
                             f"(its fields: {', '.join(known)})")
    return [known[f] for f in dict.fromkeys(fields)]


def _stored_rows(report: Report) -> list[tuple]:
    rows = [("differs", d.key, d.field, d.model_value, d.destination_value, d.state) for d in report.differences]
    rows += [("missing", key, None, None, None, SYNCED_MISSING) for key in report.missing]
    return rows[:MAX_STORED_ROWS]


class _Reconciliation:
    def __init__(self, workspace: Workspace, sync, destination, store: StateStore, rid: int,
                 observer: RunObserver, clock: Clock):
        self.workspace, self.sync, self.destination, self.store = workspace, sync, destination, store
        self.rid, self.observer, self.clock = rid, observer, clock
        self.notes: list[str] = []
        self.phases: dict[str, float] = {}
        self._phase: tuple[str, float] | None = None

    def phase(self, name: str | None) -> None:
        """The next phase (None: the end), timed, and told to the observer and to whoever watches the store."""
        now = time.monotonic()
        if self._phase is not None:
            self.phases[self._phase[0]] = round(now - self._phase[1], 3)
        self._phase = (name, now) if name else None
        if name:
            self.observer.phase(name)
            self.store.reconciliation_phase(self.rid, name)

    def run(self, fields: list[ReadBackField], sample: int | None) -> Report:
        workspace, sync = self.workspace, self.sync
        self.phase("query")
        if isinstance(self.destination, ReadBackByRecordId):  # before the model's query: its quota may refuse the read
            first_run = self.store.list_runs(sync_id=sync.id)[-1]
            self.destination.prepare_read(datetime.fromisoformat(first_run.started_at).timestamp(),
                                          len(self.store.destination_ids(sync.id)))
        model = workspace.models[sync.model]
        source = open_source(workspace.sources[model.source], sync_id=sync.id, run_id=None)
        plan = build_plan(workspace, sync, source, self.store, destination=self.destination)
        folder = workspace.state_dir / READ_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.rid}.jsonl"
        try:
            self.phase("read")
            partial = self.read([f.field for f in fields], path)
            if isinstance(self.destination, ReadBackByRecordId):
                self.notes += filter(None, [self.destination.read_note()])
            self.phase("compare")
            report = self.compare(plan, fields, path, partial, sample)
            self.phase(None)
            report.phases = self.phases
            return report
        finally:
            plan.close()
            path.unlink(missing_ok=True)

    def read(self, fields: list[str], path: Path) -> str | None:
        """The destination's records into `path`, retried like a run's requests; returns why the read is
        partial, or None when it is whole."""
        config = self.workspace.destinations[self.sync.destination]
        executor = Executor(self.destination, max_attempts=config.max_attempts, concurrency=1,
                            sleep=self.clock.sleep, on_retry=self.observer.note,
                            max_retry_after=config.max_retry_after_seconds)

        def attempt() -> None:
            with open(path, "wb") as sink:
                self.destination.read_back(fields, sink)
            if not _ends_whole(path):
                raise TransientError("MalformedResponse", "the export was cut off in the middle of a line")

        try:
            executor.call(attempt, f"{self.destination.name}: read back for reconciliation")
            return None
        except TransientError as exc:
            _drop_broken_tail(path)
            return (f"the read back failed {exc.attempts} times, the last with {exc.code}: {exc.message}; "
                    "only the records read before it are compared")
        except ReadStopped as exc:
            _drop_broken_tail(path)
            return f"{exc}; only the records read before it are compared"

    def compare(self, plan, compared: list[ReadBackField], path: Path, partial: str | None,
                sample: int | None) -> Report:
        con, sync, destination = plan.connection(), self.sync, self.destination
        fields = [f.field for f in compared]
        person = destination.identifier_rule()
        keyed = isinstance(destination, RecordReadBack)  # lines keyed by a record id the sync derives from the key
        by_record = isinstance(destination, ReadBackByRecordId)  # lines keyed by ids the destination gave
        rule = destination.record_rule() if keyed else person
        label = rule.label
        ident_sql = (destination.record_id_sql("m._key") if keyed
                     else person.sql("m." + quote(sync.match_column.lower())))
        if by_record:
            records, unknown, duplicates = record_ids.load_destination(
                con, _text(path), fields, self.store.destination_ids(sync.id))
        else:
            con.execute(f"""
                CREATE TABLE destination AS
                SELECT {rule.sql(quote(label))} AS _ident, * EXCLUDE ({quote(label)})
                FROM read_json({_text(path)}, format = 'newline_delimited',
                               columns = {destination_columns(label, fields)})
                WHERE {rule.sql(quote(label))} <> ''
                QUALIFY row_number() OVER (PARTITION BY _ident) = 1""")
            [(records, unknown)] = con.execute(
                f"SELECT COUNT(*), count_if(_ident NOT IN (SELECT {ident_sql} FROM model_rows m WHERE "
                f"{ident_sql} IS NOT NULL)) FROM destination").fetchall()
            duplicates = None
        if sample is not None:
            con.execute(f"CREATE OR REPLACE TABLE planned AS SELECT * FROM planned USING SAMPLE {int(sample)} ROWS "
                        "(reservoir, 7)")
        types = {f.column.lower(): plan.column_type(f.column) for f in compared if f.column}
        con.execute(compared_sql(compared, types, person, ident_sql, record_ids.JOIN_ON if by_record else None))

        [(model_rows,)] = con.execute("SELECT COUNT(*) FROM model_rows").fetchall()
        [(valid, in_snapshot, present, missing_n, never_synced_absent)] = con.execute(
            "SELECT COUNT(*), count_if(in_snapshot), count_if(present), count_if(in_snapshot AND NOT present), "
            "count_if(NOT in_snapshot AND NOT present) FROM compared").fetchall()
        matches = con.execute("SELECT " + ", ".join(f"count_if(_ok_{i})" for i in range(len(fields)))
                              + " FROM compared WHERE present").fetchall()[0] if fields else ()
        field_matches = [FieldMatch(f, present, n) for f, n in zip(fields, matches)]
        differs_any = " OR ".join(f"NOT _ok_{i}" for i in range(len(fields))) or "FALSE"
        [(differing,)] = con.execute(f"SELECT COUNT(*) FROM compared WHERE present AND ({differs_any})").fetchall()
        differences = self._differences(con, fields)
        missing = []
        if partial:
            self.notes.append(f"{missing_n:,} synced rows were not in the partial read: they are not called missing")
            missing_n = 0
        else:
            missing = [k for (k,) in con.execute("SELECT _key FROM compared WHERE in_snapshot AND NOT present "
                                                 f"ORDER BY _key LIMIT {MAX_STORED_ROWS}").fetchall()]
        update_only = sync.mode == "update"
        if update_only and never_synced_absent:
            # Not all expected: rows rejected for a real reason (an invalid email) are absent too; Failed rows
            # tells them apart by their causes
            self.notes.append(f"{never_synced_absent:,} model rows were never synced and the destination holds no "
                              "such record: an update-only sync finds people not in the destination absent, as "
                              "expected; any rejected for a real reason are in Failed rows"
                              + (" (in the part read)" if partial else ""))
        if duplicates:
            self.notes.append(f"{duplicates:,} records read are earlier ones of synced rows (the destination keeps "
                              "each one written: a changed row or a resend adds another); only the latest of each "
                              "row, the one the snapshot names, is compared")
        funnel = Funnel(model_rows, valid, in_snapshot, present, records, unknown, duplicates)
        normalisation = NORMALISATION + (f"; {destination.normalisation_note}" if keyed else "")
        return Report(sync.id, self.rid, "partial" if partial else "complete", funnel, field_matches, differing,
                      missing_n, (None if partial else never_synced_absent) if update_only else None, normalisation,
                      sample=valid if sample is not None else None, partial_reason=partial, notes=self.notes,
                      differences=differences, missing=missing)

    def _differences(self, con, fields: list[str]) -> list[Difference]:
        out = []
        for i, name in enumerate(fields):
            rows = con.execute(f"SELECT _key, _m_{i}, _d_{i}, sent, _note_{i} FROM compared "
                               f"WHERE present AND NOT _ok_{i} ORDER BY _key LIMIT {MAX_STORED_ROWS}").fetchall()
            out += [Difference(key, name, model, dest, CHANGED_SINCE if sent else NOT_YET_SYNCED, note)
                    for key, model, dest, sent, note in rows]
        return sorted(out, key=lambda d: (d.key, d.field))


def _text(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _ends_whole(path: Path) -> bool:
    """The file is empty or ends with a line break (every export line ends with one)."""
    size = path.stat().st_size
    if size == 0:
        return True
    with open(path, "rb") as f:
        f.seek(size - 1)
        return f.read(1) == b"\n"


def _drop_broken_tail(path: Path) -> None:
    """Cut the file after its last whole line (a read that broke mid-line)."""
    if not path.exists():
        return
    with open(path, "rb+") as f:
        data_end = f.seek(0, os.SEEK_END)
        step, position = 1 << 16, data_end
        while position > 0:
            start = max(0, position - step)
            f.seek(start)
            chunk = f.read(position - start)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                f.truncate(start + cut + 1)
                return
            position = start
        f.truncate(0)
