"""The read-only reports' SQL (sync_core/history.py builds the reports from it; the dashboard and the CLI call
history): runs with filters, causes of the rows not synced now and per run, a cause's rows, one record across
runs. Grouped by what each query answers; every one is a SELECT through `StateStore._select`. Times stay UTC
ISO strings, as stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .run_log import RUN_COLUMNS, RunRecord, run_from_row
from .store import EXAMPLES_PER_CAUSE as EXAMPLES, CauseSummary, RejectionRecord, StateStore



# ---- runs ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFilter:
    """Which runs a report covers. Empty tuples mean "all"; `since` is inclusive, `until` exclusive."""
    sync_ids: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    triggers: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None

    def where(self, alias: str = "runs") -> tuple[str, list]:
        clauses, args = [], []
        for column, values in (("sync_id", self.sync_ids), ("status", self.statuses), ("trigger", self.triggers)):
            if values:
                clauses.append(f"{alias}.{column} IN ({', '.join('?' * len(values))})")
                args.extend(values)
        if self.since:
            clauses.append(f"{alias}.started_at >= ?")
            args.append(self.since)
        if self.until:
            clauses.append(f"{alias}.started_at < ?")
            args.append(self.until)
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", args


def runs(store: StateStore, where: RunFilter = RunFilter(), *, limit: int | None = None) -> list[RunRecord]:
    """Runs matching the filter, newest first."""
    clause, args = where.where()
    sql = f"SELECT {RUN_COLUMNS} FROM runs {clause} ORDER BY id DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return [run_from_row(tuple(r)) for r in store._select(sql, args)]


def run_groups(store: StateStore) -> list[tuple[str, str, str, int, str, str]]:
    """Per sync, trigger and status: (sync_id, trigger, status, runs, first started_at, last started_at)."""
    return [tuple(r) for r in store._select("SELECT sync_id, trigger, status, COUNT(*), MIN(started_at), "
                                            "MAX(started_at) FROM runs GROUP BY sync_id, trigger, status")]


def latest_runs(store: StateStore, *, whole: bool = False, completed: bool = False) -> dict[str, RunRecord]:
    """The last run of each sync that has run (a dry run is a preview, not the sync's last result). `whole`: the
    last that tried every row, not a retry of the failed rows or a resend of chosen ones (which leave the others
    for the next run): what a schedule counts from, and whose data problems are the sync's. `completed`: one that
    also ran to its end (healthy, warning, or failed by its share of problems rather than stopped by an error),
    whose mix of rows says what the sync's MQR buys."""
    where = " AND retry_failed = 0 AND resend = 0" if whole else ""
    where += " AND status IN ('healthy', 'warning', 'failed') AND error IS NULL" if completed else ""
    rows = store._select(f"SELECT {RUN_COLUMNS} FROM runs WHERE id IN "
                         f"(SELECT MAX(id) FROM runs WHERE run_type = 'sync'{where} GROUP BY sync_id)")
    return {r["sync_id"]: run_from_row(tuple(r)) for r in rows}


def change_stamp(store: StateStore) -> tuple:
    """Changes whenever a report could: a run is added or ends, a run in progress records anything (its row,
    counts and phase), or a transaction changes bulk state (snapshot and rejections of a sync, the MQR ledger:
    each bumps its state_versions row). A worker's heartbeat, an alert check or a queued request changes none of
    it, so a reader's cache keyed on it survives them. Not covered: the retention's pruning of example keys from
    runs older than its window (the dashboard's cache lifetime bounds how long an old run shows them)."""
    runs = tuple(store._select("SELECT COUNT(*), MAX(id), MAX(finished_at) FROM runs")[0])
    live = tuple(tuple(r) for r in store._select(f"SELECT {RUN_COLUMNS} FROM runs WHERE finished_at IS NULL"))
    versions = tuple(store._select("SELECT COALESCE(SUM(version), 0), COUNT(*) FROM state_versions")[0])
    return runs, live, versions


# ---- causes of the rows not synced now, and per run -----------------------------------------------------------


def current_causes(store: StateStore, *, sync_id: str | None = None,
                   error_class: str | None = None) -> list[CauseSummary]:
    """Causes of the rows not synced as they stand, largest first.

    Most come from the current rejection state, counted per cause on the cause index alone: a million rows in
    about 80 ms, where reading each row's outcome as well takes a second (docs/benchmarks.md, "Page speed"). A
    cause's outcome is the one its runs recorded; the rare cause recorded with several outcomes is counted row
    by row. Invalid keys are the exception: every run finds them all again, they are model rows (a duplicated
    key is several), and a null key has no state to keep; so they are the latest recording run's, per sync."""
    invalid = {r["cause_id"] for r in store._select("SELECT DISTINCT cause_id FROM run_causes WHERE outcome = 'invalid'")}
    return sorted(_state_causes(store, sync_id, error_class, invalid) + _invalid_causes(store, sync_id, error_class),
                  key=lambda c: (-c.rows, c.cause_id))


def _state_causes(store: StateStore, sync_id: str | None, error_class: str | None,
                  invalid: set[int]) -> list[CauseSummary]:
    clauses, args = [], []
    if sync_id:
        clauses.append("sync_id = ?")
        args.append(sync_id)
    if error_class:
        clauses.append("cause_id IN (SELECT id FROM causes WHERE error_class = ?)")
        args.append(error_class)
    if invalid:
        clauses.append(f"cause_id NOT IN ({', '.join(str(int(c)) for c in invalid)})")
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    counts = {r["cause_id"]: r["n"] for r in store._select(
        f"SELECT cause_id, COUNT(*) AS n FROM rejections {where} GROUP BY cause_id", args)}
    if not counts:
        return []
    marks = ", ".join("?" * len(counts))
    causes = {r["id"]: r for r in store._select(
        f"SELECT id, code, error_class, template FROM causes WHERE id IN ({marks})", list(counts))}
    outcomes: dict[int, set[str]] = {}
    for r in store._select(f"SELECT DISTINCT cause_id, outcome FROM run_causes WHERE cause_id IN ({marks})",
                           list(counts)):
        outcomes.setdefault(r["cause_id"], set()).add(r["outcome"])
    of_sync, sync_args = (" AND sync_id = ?", [sync_id]) if sync_id else ("", [])
    summaries = []
    for cause_id, rows in counts.items():
        cause = causes[cause_id]
        known = outcomes.get(cause_id, set())
        split = {next(iter(known)): rows} if len(known) == 1 else {r["outcome"]: r["n"] for r in store._select(
            f"SELECT outcome, COUNT(*) AS n FROM rejections WHERE cause_id = ?{of_sync} GROUP BY outcome",
            [cause_id, *sync_args])}
        examples = [r["key"] for r in store._select(
            f"SELECT key FROM rejections WHERE cause_id = ?{of_sync} LIMIT {EXAMPLES}", [cause_id, *sync_args])]
        for outcome, n in split.items():
            summaries.append(CauseSummary(cause_id, cause["code"], cause["error_class"], cause["template"], outcome,
                                          n, examples))
    return summaries


def _invalid_causes(store: StateStore, sync_id: str | None, error_class: str | None) -> list[CauseSummary]:
    """The invalid keys of each sync's latest run that recorded them (not a dry run, not one that stopped first)."""
    latest, args = ("SELECT MAX(id) FROM runs WHERE run_type = 'sync' AND json_extract(phases, '$.record') IS NOT NULL",
                    [])
    if sync_id:
        latest += " AND sync_id = ?"
        args.append(sync_id)
    latest += " GROUP BY sync_id"
    of_class = ""
    if error_class:
        of_class = " AND c.error_class = ?"
        args.append(error_class)
    per_cause: dict[int, CauseSummary] = {}
    for r in store._select("SELECT c.id, c.code, c.error_class, c.template, rc.rows, rc.example_keys FROM run_causes rc "
                           f"JOIN causes c ON c.id = rc.cause_id WHERE rc.outcome = 'invalid' AND rc.run_id IN ({latest})"
                           f"{of_class} ORDER BY rc.run_id", args):
        seen = per_cause.get(r["id"])
        rows = r["rows"] + (seen.rows if seen else 0)
        examples = ((seen.example_keys if seen else []) + json.loads(r["example_keys"]))[:EXAMPLES]
        per_cause[r["id"]] = CauseSummary(r["id"], r["code"], r["error_class"], r["template"], "invalid", rows, examples)
    return list(per_cause.values())


def cause_trend(store: StateStore, where: RunFilter = RunFilter(), *,
                error_class: str | None = None) -> list[tuple[int, str, str, int, str, str, str, str, int]]:
    """Per run and cause, oldest run first: (run id, sync_id, started_at, cause id, code, class, template,
    outcome, rows)."""
    clause, args = where.where("r")
    if error_class:
        clause = (clause + " AND" if clause else "WHERE") + " c.error_class = ?"
        args.append(error_class)
    return [tuple(r) for r in store._select(
        "SELECT r.id, r.sync_id, r.started_at, c.id AS cause_id, c.code, c.error_class, c.template, rc.outcome, "
        f"rc.rows FROM runs r JOIN run_causes rc ON rc.run_id = r.id JOIN causes c ON c.id = rc.cause_id {clause} "
        "ORDER BY r.id", args)]


# ---- a cause's rows ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowScope:
    """Which rows of a cause: of one sync; still failing as of one run (else: failing now).

    Rows are kept as the current state per sync and key, not one row per run (docs/architecture.md, The state
    layout), so "the rows of run R" are the rows that were already failing at R and have not synced since. The
    clauses read the view `rejection_state`, whose last_seen and last_run_id count the runs that swept a row as
    refused again."""
    cause_id: int
    sync_id: str | None = None
    run_id: int | None = None

    @property
    def source(self) -> str:
        """What to count from: the view when a filter needs the swept last_run_id, else the table, whose rows of
        a cause are counted on the cause index alone (the view joins each row to its sync's sweeps)."""
        return "rejection_state" if self.run_id is not None else "rejections"

    def where(self) -> tuple[str, list]:
        clauses, args = ["r.cause_id = ?"], [self.cause_id]
        if self.sync_id:
            clauses.append("r.sync_id = ?")
            args.append(self.sync_id)
        if self.run_id is not None:
            clauses.append("r.first_run_id <= ? AND r.last_run_id >= ?")
            args += [self.run_id, self.run_id]
        return "WHERE " + " AND ".join(clauses), args


_ROW_COLUMNS = ("r.sync_id, r.key, r.outcome, c.code, c.error_class, r.message, r.first_seen, r.last_seen, "
                "r.times_seen, r.first_run_id, r.last_run_id")


def cause_rows(store: StateStore, scope: RowScope, *, limit: int | None = None, offset: int = 0) -> list[RejectionRecord]:
    """The scope's rows in (sync, key) order: the primary key's, so a page of one sync's rows needs no sort."""
    clause, args = scope.where()
    sql = (f"SELECT {_ROW_COLUMNS} FROM rejection_state r JOIN causes c ON c.id = r.cause_id {clause} "
           "ORDER BY r.cause_id, r.sync_id, r.key")
    if limit is not None:
        sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
    return [RejectionRecord(*tuple(r)) for r in store._select(sql, args)]


def count_cause_rows(store: StateStore, scope: RowScope) -> int:
    clause, args = scope.where()
    return store._select(f"SELECT COUNT(*) AS n FROM {scope.source} r {clause}", args)[0]["n"]


# ---- one record across runs ---------------------------------------------------------------------------------------


def keys_named_by_user_id(store: StateStore, user_id: str) -> set[str]:
    """Keys whose rejection message names the user id (user-id syncs name it in their not-found message)."""
    return {r["key"] for r in store._select("SELECT key FROM rejections WHERE message LIKE ? ESCAPE '\\'",
                                            ["%userId:" + _literal(user_id)])}


def record_state(store: StateStore, keys: tuple[str, ...]) -> tuple[list[RejectionRecord], list[tuple[str, str, int, str | None]]]:
    """The keys' current rejections, and where the destination confirmed them: (sync_id, key, run id, that run's
    started_at). Both tables are keyed (sync_id, key): one seek per sync, no index on the key alone to keep."""
    marks = ", ".join("?" * len(keys))
    failing, confirmed = [], []
    for sync_id in [r["sync_id"] for r in store._select("SELECT DISTINCT sync_id FROM runs")]:
        failing += [RejectionRecord(*tuple(r)) for r in store._select(
            f"SELECT {_ROW_COLUMNS} FROM rejection_state r JOIN causes c ON c.id = r.cause_id "
            f"WHERE r.sync_id = ? AND r.key IN ({marks})", [sync_id, *keys])]
        confirmed += [(sync_id, r["key"], r["run_id"], r["started_at"]) for r in store._select(
            f"SELECT s.key, s.run_id, runs.started_at FROM snapshot s LEFT JOIN runs ON runs.id = s.run_id "
            f"WHERE s.sync_id = ? AND s.key IN ({marks})", [sync_id, *keys])]
    return failing, confirmed


def citations(store: StateStore, keys: tuple[str, ...], *,
              limit: int) -> list[tuple[int, str, str, str, str, str, int]]:
    """The latest runs that cite one of the keys among a cause's examples, newest first: (run id, sync_id,
    started_at, code, class, template, rows)."""
    likes = " OR ".join("rc.example_keys LIKE ? ESCAPE '\\'" for _ in keys)
    return [tuple(r) for r in store._select(
        "SELECT r.id, r.sync_id, r.started_at, c.code, c.error_class, c.template, rc.rows FROM run_causes rc "
        f"JOIN runs r ON r.id = rc.run_id JOIN causes c ON c.id = rc.cause_id WHERE {likes} "
        f"ORDER BY r.id DESC LIMIT {int(limit)}", [f"%{_literal(json.dumps(k))}%" for k in keys])]


def _literal(text: str) -> str:
    """Text for a LIKE pattern (with ESCAPE '\\'): its own % and _ match only themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# ---- MQR ------------------------------------------------------------------------------------------------------


def mqr_daily(store: StateStore, start: str, end: str) -> list[tuple[str, int]]:
    """(day, records new to the period's MQR) for runs started in [start, end) (UTC dates), from what each run
    recorded adding (runs.mqr_new). Runs recorded before runs kept it are counted from the ledger instead."""
    rows = store._select(
        "SELECT substr(started_at, 1, 10) AS day, SUM(mqr_new) FROM runs WHERE run_type = 'sync' AND "
        "started_at >= ? AND started_at < ? AND mqr_new IS NOT NULL GROUP BY day ORDER BY day", (start, end))
    return [(r[0], r[1]) for r in rows]


def mqr_daily_from_ledger(store: StateStore, period_start: str) -> list[tuple[str, int]]:
    """The same series from the ledger itself (which run first counted each key): exact for any store, and a
    scan of the period's ledger."""
    rows = store._select(
        "SELECT substr(r.started_at, 1, 10) AS day, COUNT(*) FROM mqr_ledger l JOIN runs r ON r.id = l.first_run_id "
        "WHERE l.period_start = ? GROUP BY day ORDER BY day", (period_start,))
    return [(r[0], r[1]) for r in rows]


def mqr_blocked_runs(store: StateStore, start: str, end: str) -> list[RunRecord]:
    """Runs the MQR budget guard stopped in [start, end)."""
    rows = store._select(f"SELECT {RUN_COLUMNS} FROM runs WHERE status = 'failed' AND error LIKE 'MQR budget:%' "
                         "AND started_at >= ? AND started_at < ? ORDER BY id DESC", (start, end))
    return [run_from_row(tuple(r)) for r in rows]
