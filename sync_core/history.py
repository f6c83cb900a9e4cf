"""Read-only reports over the state store: run history with filters, failed rows by cause (per run, now and
over time), one cause's rows, one record's story across runs, and MQR usage.

Views (the dashboard, the CLI) call these instead of writing SQL. The SQL lives in the state package
(`sync_core/state/reports.py`, and the store's read methods); this module builds the reports from it. Times stay
UTC ISO strings, as stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from .config import Workspace
from .mqr import current_period_start
from .state import CauseRows, CauseSummary, RejectionRecord, StateStore, reports
from .state.reports import RowScope, RunFilter  # noqa: F401 (part of this module's API)
from .state.run_log import TERMINAL_STATUSES, RunRecord

RUN_STATUSES = ("running", *TERMINAL_STATUSES)
EXPECTED = "expected"  # the class of rejections a sync's rules expect; every other class is a real problem


def is_expected(error_class: str) -> bool:
    return error_class == EXPECTED


def utc_iso(moment: datetime) -> str:
    """A bound in the stored form (`2026-01-05T06:00:00+00:00`), so string comparison orders correctly."""
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


# ---- runs ----------------------------------------------------------------------------------------------------


def runs(store: StateStore, where: RunFilter = RunFilter(), *, limit: int | None = None) -> list[RunRecord]:
    """Runs matching the filter, newest first."""
    return reports.runs(store, where, limit=limit)


@dataclass(frozen=True)
class Facets:
    """What the history holds, for filter choices: sync ids, triggers, statuses and the time span."""
    runs: int
    sync_ids: tuple[str, ...]
    triggers: tuple[str, ...]
    statuses: tuple[str, ...]
    first_started: str | None
    last_started: str | None


def facets(store: StateStore) -> Facets:
    groups = reports.run_groups(store)
    return Facets(runs=sum(n for *_, n, _, _ in groups),
                  sync_ids=tuple(sorted({g[0] for g in groups})),
                  triggers=tuple(sorted({g[1] for g in groups})),
                  statuses=tuple(sorted({g[2] for g in groups})),
                  first_started=min((g[4] for g in groups), default=None),
                  last_started=max((g[5] for g in groups), default=None))


def latest_runs(store: StateStore, *, whole: bool = False) -> dict[str, RunRecord]:
    """The last run of each sync that has run (a dry run is a preview, not the sync's last result); `whole`: the
    last that tried every row (not a retry of the failed rows, nor a resend of chosen ones)."""
    return reports.latest_runs(store, whole=whole)


def change_stamp(store: StateStore) -> tuple:
    """A value that changes whenever any report here could (what it covers: reports.change_stamp)."""
    return reports.change_stamp(store)


@dataclass(frozen=True)
class RunProblems:
    """A run's rows with data problems (invalid keys and real rejections), told as new or standing, and its
    transient failures. Standing problems are the ones the sync already had: a rerun that meets yesterday's
    invalid emails again has no new problem, whatever its status says."""
    data: int
    new: int
    failed: int  # not sent for a passing reason: the next run sends them again
    compared_with: int | None  # the sync's previous run that read its model; None: nothing to compare with

    @property
    def standing(self) -> int:
        return self.data - self.new


PREVIOUS_RUNS_LOOKED_AT = 20  # dry runs and runs stopped before their query are skipped: a few are enough


def run_problems(store: StateStore, run: RunRecord) -> RunProblems:
    """Rejections repeated for the same cause are counted by the run itself (`repeated_other`). Invalid keys are
    refused before any state is kept for a null key, so they are compared by cause with the sync's previous
    run that read its model: rows of a cause beyond what that run found are new."""
    c = run.counts
    rejected = c.outcome("rejected_other")
    new_rejected = max(0, rejected - c.repeated_other)
    # Runs a second apart share a start time: the bound takes that second in, the ids order them.
    until = utc_iso(datetime.fromisoformat(run.started_at) + timedelta(seconds=1))
    earlier = [r for r in reports.runs(store, RunFilter(sync_ids=(run.sync_id,), until=until),
                                       limit=PREVIOUS_RUNS_LOOKED_AT)
               if r.id < run.id and not r.dry_run and r.counts.queried]
    previous = earlier[0] if earlier else None
    if previous is None:
        new_invalid = c.invalid
    else:
        before = {x.cause_id: x.rows for x in store.run_causes(previous.id) if x.outcome == "invalid"}
        new_invalid = sum(max(0, x.rows - before.get(x.cause_id, 0))
                          for x in store.run_causes(run.id) if x.outcome == "invalid")
    return RunProblems(data=c.invalid + rejected, new=new_invalid + new_rejected, failed=c.outcome("failed"),
                       compared_with=previous.id if previous else None)


# ---- causes of failed rows -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Totals:
    """Failed rows split the way the dashboard shows them: expected versus real."""
    expected: int
    real: int


def totals(causes: list[CauseSummary]) -> Totals:
    expected = sum(c.rows for c in causes if is_expected(c.error_class))
    return Totals(expected=expected, real=sum(c.rows for c in causes) - expected)


@dataclass(frozen=True)
class Retryable:
    """What a retry of a sync's failed rows (`run --retry-failed`, the dashboard's button) would do now."""
    sendable: int  # rows that failed or were rejected for a real reason: the rows it sends again
    invalid: int  # rows the plan refuses (a null, repeated or shared key): no retry sends them
    expected: int  # expected rejections: not retried


def retryable(store: StateStore, sync_id: str) -> Retryable:
    causes = current_causes(store, sync_id=sync_id)
    expected = sum(c.rows for c in causes if is_expected(c.error_class))
    invalid = sum(c.rows for c in causes if c.outcome == "invalid" and not is_expected(c.error_class))
    return Retryable(sum(c.rows for c in causes) - expected - invalid, invalid, expected)


def current_causes(store: StateStore, *, sync_id: str | None = None,
                   error_class: str | None = None) -> list[CauseSummary]:
    """Causes of the rows not synced as they stand, largest first (how they are counted: reports.current_causes)."""
    return reports.current_causes(store, sync_id=sync_id, error_class=error_class)


def run_causes(store: StateStore, run_id: int, *, error_class: str | None = None) -> list[CauseSummary]:
    return [c for c in store.run_causes(run_id) if error_class in (None, c.error_class)]


@dataclass(frozen=True)
class TrendPoint(CauseRows):
    """Rows of one cause in one run."""
    run_id: int
    sync_id: str
    started_at: str


def cause_trend(store: StateStore, where: RunFilter = RunFilter(), *,
                error_class: str | None = None) -> list[TrendPoint]:
    """Per run and cause, the rows it failed: each cause's trend over time. Oldest run first."""
    return [TrendPoint(*cause, run_id=run_id, sync_id=sync_id, started_at=started_at)
            for run_id, sync_id, started_at, *cause in reports.cause_trend(store, where, error_class=error_class)]


# ---- a cause's rows ---------------------------------------------------------------------------------------------


def cause_rows(store: StateStore, scope: RowScope, *, limit: int | None = None, offset: int = 0) -> list[RejectionRecord]:
    """The scope's rows in (sync, key) order: the primary key's, so a page of one sync's rows needs no sort."""
    return reports.cause_rows(store, scope, limit=limit, offset=offset)


def count_cause_rows(store: StateStore, scope: RowScope) -> int:
    return reports.count_cause_rows(store, scope)


# ---- one record across runs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Confirmed:
    """The destination confirmed this key's current values in this run."""
    sync_id: str
    key: str
    run_id: int
    started_at: str | None


@dataclass(frozen=True)
class Example:
    """A run recorded this key among the examples of one of its causes."""
    run_id: int
    sync_id: str
    started_at: str
    code: str
    error_class: str
    template: str
    rows: int


@dataclass(frozen=True)
class RecordStory:
    term: str
    keys: tuple[str, ...]
    failing: list[RejectionRecord] = field(default_factory=list)
    confirmed: list[Confirmed] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.failing or self.confirmed or self.examples)


def find_record(store: StateStore, term: str, *, example_runs: int = 50) -> RecordStory:
    """Where one record stands, by key (an email) or by a user id named in a rejection message: its current
    rejection per sync, the run that confirmed it per sync, and the latest runs that cite it as an example."""
    term = term.strip()
    if not term:
        return RecordStory(term, ())
    keys = {term, term.lower()}
    if "@" not in term:  # a user id: user-id syncs name it in their not-found message
        keys |= reports.keys_named_by_user_id(store, term)
    keys_sorted = tuple(sorted(keys))
    failing, confirmed = reports.record_state(store, keys_sorted)
    examples = [Example(*cited) for cited in reports.citations(store, keys_sorted, limit=example_runs)]
    return RecordStory(term, keys_sorted, failing, [Confirmed(*c) for c in confirmed], examples)


# ---- MQR --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MqrUsage:
    period_start: date
    limit: int
    by_entity: dict[str, int]

    @property
    def used(self) -> int:
        return sum(self.by_entity.values())

    @property
    def share(self) -> float:
        return self.used / self.limit


def mqr_usage(store: StateStore, workspace: Workspace, now: datetime | None = None) -> MqrUsage:
    """Distinct records queried in the billing period holding `now`, against the workspace's limit."""
    start = current_period_start(workspace.mqr.billing_period_start_day, now)
    return MqrUsage(start, workspace.mqr.limit, store.mqr_usage(start.isoformat()))
