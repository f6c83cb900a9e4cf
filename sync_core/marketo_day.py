"""Marketo's day: an instance's daily API quota counts calls per calendar day in US Central time and resets at
its midnight. The engine (to say when a used-up quota comes back) and the sandbox (to enforce it) share this."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

MARKETO_TIME_ZONE = ZoneInfo("America/Chicago")


def marketo_day(epoch: float) -> str:
    """The Marketo day (US Central calendar date) an instant falls on, as YYYY-MM-DD."""
    return dt.datetime.fromtimestamp(epoch, MARKETO_TIME_ZONE).date().isoformat()


def next_reset(epoch: float) -> float:
    """When the daily quota of the Marketo day holding `epoch` resets: the next midnight US Central."""
    today = dt.datetime.fromtimestamp(epoch, MARKETO_TIME_ZONE).date()
    return dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), MARKETO_TIME_ZONE).timestamp()


def reset_time_text(epoch: float) -> str:
    """The reset after `epoch`, as an ISO time in US Central (e.g. 2026-12-02T00:00:00-06:00)."""
    return dt.datetime.fromtimestamp(next_reset(epoch), MARKETO_TIME_ZONE).isoformat()
