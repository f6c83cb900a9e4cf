"""The business owner's MQR report for a billing period: used against the limit, by entity and by sync, the daily
series, a forecast with its method and range, the MQR that bought nothing, and the runs the budget guard stopped.

Everything comes from state the runs keep as they count (state/mqr_ledger.py: running totals, each run's new
records, each sync's queried and held keys): a report reads a few rows, whatever the ledger's size."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone

from .config import Workspace
from .destinations.base import NOT_FOUND_CODE
from .mqr import period_end, period_start
from .history import EXPECTED
from .state import CauseRows, RunRecord, StateStore, reports
from .state.mqr_ledger import SyncMqr

FORECAST_DAYS = 7  # the growth rate is the mean of up to this many latest days
MIN_GROWTH_DAYS = 2  # fewer days after the period's first: too little history to project (the range says how
# little two days are; `sync-core up`'s three days of history, in one period, get a forecast)


@dataclass(frozen=True)
class DayPoint:
    day: date
    new: int  # records first counted in the period that day
    cumulative: int


@dataclass(frozen=True)
class Forecast:
    """Where the period is heading, or why there is no saying (`reason`)."""
    method: str
    expected: int | None = None  # records at the period's end
    low: int | None = None
    high: int | None = None
    limit_on: date | None = None  # the day the budget is reached at the expected rate (None: not in this period)
    limit_earliest: date | None = None  # at the fastest rate of the window
    limit_reached: date | None = None  # the day it was reached, if it already was
    reason: str | None = None  # why there is no forecast


@dataclass(frozen=True)
class SyncLine:
    sync_id: str
    name: str
    first_counted: int  # records this sync was the first to count (these add up to `used`)
    queried: int | None  # distinct records it queried (overlaps with other syncs of the entity)
    unproductive: int | None  # of them, records the destination never held after a run of the period
    saving: str | None  # what would save the unproductive MQR, when the latest run says


@dataclass(frozen=True)
class MqrReport:
    period_start: date
    period_end: date  # exclusive
    current: bool
    limit: int
    budget: int  # the limit less the reserve
    policy: str
    used: int
    by_entity: dict[str, int]
    by_sync: list[SyncLine]
    daily: list[DayPoint]
    forecast: Forecast
    blocked_runs: list[RunRecord]
    earlier: list[tuple[date, int]]  # (period start, used), newest first
    notes: list[str] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.used / self.limit

    def to_json(self) -> dict:
        out = asdict(self)
        out.update(period_start=self.period_start.isoformat(), period_end=self.period_end.isoformat(),
                   share=round(self.share, 4), daily=[{"day": p.day.isoformat(), "new": p.new, "cumulative": p.cumulative}
                                                      for p in self.daily],
                   forecast={k: v.isoformat() if isinstance(v, date) else v for k, v in asdict(self.forecast).items()},
                   blocked_runs=[{"id": r.id, "sync": r.sync_id, "started_at": r.started_at, "error": r.error}
                                 for r in self.blocked_runs],
                   earlier=[{"period_start": d.isoformat(), "used": used} for d, used in self.earlier])
        return out


def mqr_report(workspace: Workspace, store: StateStore, period: date | None = None,
               today: date | None = None) -> MqrReport:
    """The report of the billing period holding `period` (default: today's, UTC)."""
    mqr = workspace.mqr
    today = today or datetime.now(timezone.utc).date()
    start = period_start(period or today, mqr.billing_period_start_day)
    end = period_end(start, mqr.billing_period_start_day)
    key = start.isoformat()
    by_entity = store.mqr_usage(key)
    used = sum(by_entity.values())
    notes = []
    daily_rows = reports.mqr_daily(store, key, end.isoformat())
    if sum(n for _, n in daily_rows) != used:  # runs from before runs kept their count: the ledger knows,
        daily_rows = reports.mqr_daily_from_ledger(store, key) or daily_rows  # unless retention pruned its keys
    daily = _series(daily_rows)
    current = start <= today < end
    forecast = (_forecast(daily, used, mqr.budget, today, end) if current else
                Forecast("a closed period: its total is final", expected=used))
    stored = [date.fromisoformat(p) for p in store.mqr_periods()]
    misaligned = [p for p in stored if period_start(p, mqr.billing_period_start_day) != p]
    if misaligned:
        notes.append(f"{len(misaligned)} period(s) of the ledger start on another day than billing_period_start_day "
                     f"{mqr.billing_period_start_day} (it was changed since): each keeps the figures counted then, "
                     f"under its own start ({', '.join(p.isoformat() for p in misaligned[:3])}).")
    return MqrReport(start, end, current, mqr.limit, mqr.budget, mqr.policy, used, by_entity,
                     _by_sync(workspace, store, key), daily, forecast,
                     reports.mqr_blocked_runs(store, key, end.isoformat()),
                     [(p, sum(store.mqr_usage(p.isoformat()).values())) for p in stored if p < start], notes)


def _series(rows: list[tuple[str, int]]) -> list[DayPoint]:
    points, total = [], 0
    for day, new in rows:
        total += new
        points.append(DayPoint(date.fromisoformat(day), new, total))
    return points


def _forecast(daily: list[DayPoint], used: int, budget: int, today: date, end: date) -> Forecast:
    """The base the period's first day counted, plus new records per day at the mean of the latest days after
    it, projected to the period's end; the range runs from the slowest to the fastest of those days."""
    reached = next((p.day for p in daily if p.cumulative > budget), None)
    if not daily:
        return Forecast("no run has counted records in this period yet", reason="no data yet")
    first = daily[0].day
    growth_days = [(first + timedelta(days=i)) for i in range(1, (today - first).days + 1)]
    by_day = {p.day: p.new for p in daily}
    window = [by_day.get(d, 0) for d in growth_days[-FORECAST_DAYS:]]
    if len(window) < MIN_GROWTH_DAYS:
        return Forecast(f"needs {MIN_GROWTH_DAYS} days of runs after the period's first day; it has "
                        f"{len(window)}", limit_reached=reached,
                        reason=f"too little history: {len(window)} day(s) since the period's first count")
    rate, low, high = sum(window) / len(window), min(window), max(window)
    left = (end - today).days - 1  # whole days after today
    method = (f"the {daily[0].cumulative:,} records counted on the period's first day ({first:%Y-%m-%d}), then "
              f"new records per day at the mean of the last {len(window)} days ({rate:,.0f} a day), projected over "
              f"the {left} day(s) left; the range runs from the slowest day ({low:,}) to the fastest ({high:,})")

    def crossing(per_day: float) -> date | None:
        if used > budget:
            return reached
        if per_day <= 0:
            return None
        day = today + timedelta(days=math.ceil((budget - used) / per_day))
        return day if day < end else None
    return Forecast(method, expected=round(used + rate * left), low=used + low * left, high=used + high * left,
                    limit_on=crossing(rate), limit_earliest=crossing(high), limit_reached=reached)


def _by_sync(workspace: Workspace, store: StateStore, period: str) -> list[SyncLine]:
    # The last run that tried every row and ran to its end: a retry's rows are the failed ones only, a run an
    # error or the budget stopped sent few or none, and neither is the sync's mix
    latest = reports.latest_runs(store, whole=True, completed=True)
    lines = []
    for totals in store.mqr_by_sync(period):
        sync = workspace.syncs.get(totals.sync_id)
        run = latest.get(totals.sync_id)
        lines.append(SyncLine(totals.sync_id, sync.name if sync else f"{totals.sync_id} (not in workspace.toml)",
                              totals.first_counted, totals.queried, totals.unproductive,
                              _saving(workspace, totals, run, _expected_causes(store, run))))
    return sorted(lines, key=lambda line: -(line.unproductive or 0))


def _expected_causes(store: StateStore, run: RunRecord | None) -> list[CauseRows]:
    """The run's causes of expected rejections, read only for a run that had some (a report reads few rows)."""
    if run is None or not run.counts.outcome("rejected_expected"):
        return []
    return [cause for cause in store.run_causes(run.id) if cause.error_class == EXPECTED]


def _saving(workspace: Workspace, totals: SyncMqr, run: RunRecord | None, causes: list[CauseRows]) -> str | None:
    """What would save the sync's unproductive MQR, from its latest completed whole run's mix of rows that bought
    nothing: at most that much, since a record counts once a period and another sync that queries it would still
    count it. `causes`: its expected rejections' causes (_expected_causes); those of records the destination does
    not hold (`NotFound`, whatever the destination or the sync's mode) would be saved by querying only records that
    exist there."""
    sync = workspace.syncs.get(totals.sync_id)
    if not sync or not totals.unproductive or run is None:
        return None
    c = run.counts.as_dict()
    expected, invalid, real = c["rejected_expected"], c["invalid"], c["rejected_other"] + c["failed"]
    wasted = expected + invalid + real
    if not wasted:
        return None
    destination = workspace.destinations[sync.destination].type.capitalize()
    not_found = (expected * sum(cause.rows for cause in causes if cause.code == NOT_FOUND_CODE)
                 / max(1, sum(cause.rows for cause in causes)))
    parts = []
    if not_found:
        parts.append(f"restricting model `{sync.model}` to records that exist in {destination} would save up to "
                     f"{round(totals.unproductive * not_found / wasted):,} MQR a period")
    if invalid:
        parts.append(f"fixing or filtering its invalid keys (null, duplicated) about "
                     f"{round(totals.unproductive * invalid / wasted):,}")
    if real:
        parts.append(f"fixing the rows {destination} rejects for a real reason about "
                     f"{round(totals.unproductive * real / wasted):,}")
    if not parts:
        return None
    return "; ".join(parts) + " (less the records another sync of the same people queries: those still count once)"
