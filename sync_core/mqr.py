"""MQR (Monthly Queried Records): distinct primary keys queried per billing period and entity.

A record queried several times in a period counts once; models that key the same people declare the same
entity, so a person synced by four syncs counts once. Dry runs and reconciliations do not count.

A billing period starts on `billing_period_start_day` of a month (1-31). In a month shorter than that day, it starts
on the month's last day: with 31, periods start on 31 January, 28 (or 29) February, 31 March, 30 April..."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timezone


def _start_in(year: int, month: int, start_day: int) -> date:
    return date(year, month, min(start_day, calendar.monthrange(year, month)[1]))


def _month_before(year: int, month: int) -> tuple[int, int]:
    return (year, month - 1) if month > 1 else (year - 1, 12)


def _month_after(year: int, month: int) -> tuple[int, int]:
    return (year, month + 1) if month < 12 else (year + 1, 1)


def period_start(day: date, start_day: int) -> date:
    """The first day of the billing period holding `day`, for periods starting on `start_day` of a month."""
    this_month = _start_in(day.year, day.month, start_day)
    return this_month if day >= this_month else _start_in(*_month_before(day.year, day.month), start_day)


def period_end(start: date, start_day: int) -> date:
    """The first day of the next period (the period is [start, end))."""
    return _start_in(*_month_after(start.year, start.month), start_day)


def current_period_start(start_day: int, now: datetime | None = None) -> date:
    now = now or datetime.now(timezone.utc)
    return period_start(now.astimezone(timezone.utc).date(), start_day)
