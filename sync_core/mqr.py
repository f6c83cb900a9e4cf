"""MQR (Monthly Queried Records): distinct primary keys queried per billing period and entity.

A record queried several times in a period counts once; models that key the same people declare the same
entity, so a person synced by four syncs counts once. Dry runs and reconciliations do not count."""

from __future__ import annotations

from datetime import date, datetime, timezone


def period_start(day: date, start_day: int) -> date:
    """The first day of the billing period holding `day`, for periods starting on `start_day` of a month."""
    if day.day >= start_day:
        return day.replace(day=start_day)
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    return date(year, month, start_day)


def current_period_start(start_day: int, now: datetime | None = None) -> date:
    now = now or datetime.now(timezone.utc)
    return period_start(now.astimezone(timezone.utc).date(), start_day)
