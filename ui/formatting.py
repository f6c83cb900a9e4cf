"""How values look: local time (the viewer's time zone, named), status colours and labels, row counts."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import streamlit as st

from sync_core.history import utc_iso

# Interrupted (its process ended) and cancelled (someone stopped it) are both muted, and never alike in a chart.
STATUS_COLOURS = {"healthy": "#2E9E5B", "warning": "#E0A100", "failed": "#D64545", "interrupted": "#8E6C8A",
                  "planned": "#4C7BD9", "running": "#5B47FB", "blocked": "#B5651D",
                  "cancelled": "#7A7F8C"}
# Markdown colours of Streamlit's palette, for a status in text (headless browsers may lack emoji fonts).
STATUS_MARKDOWN = {"healthy": "green", "warning": "orange", "failed": "red", "interrupted": "gray", "planned": "blue",
                   "running": "violet", "blocked": "orange",
                   "cancelled": "gray"}
# Real problems and expected rejections never look alike: warm red versus grey, each with its own icon.
REAL_HEADING = ":red[:material/error: Real problems]"
EXPECTED_HEADING = ":gray[:material/task_alt: Expected]"
CLASS_LABELS = {"expected": "expected", "data": "data: fix the source", "config": "setup: fix the sync's settings",
                "transient": "temporary: sent again next run"}


def display_zone() -> tzinfo:
    """The browser's time zone when the browser told us, else the server's."""
    name = st.context.timezone
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return datetime.now().astimezone().tzinfo


def zone_label() -> str:
    zone = display_zone()
    return getattr(zone, "key", None) or datetime.now(zone).tzname() or "local"


def local_times(values: pd.Series) -> pd.Series:
    """UTC ISO strings -> tz-aware datetimes in the display zone."""
    return pd.to_datetime(values, utc=True).dt.tz_convert(display_zone())


def local_text(value: str | None) -> str:
    if not value:
        return "-"
    return datetime.fromisoformat(value).astimezone(display_zone()).strftime("%Y-%m-%d %H:%M:%S")


def local_date(value: str) -> date:
    return datetime.fromisoformat(value).astimezone(display_zone()).date()


def day_bounds(first: date, last: date) -> tuple[str, str]:
    """Local calendar days [first, last] as UTC ISO bounds [since, until)."""
    zone = display_zone()
    since = datetime.combine(first, time.min, tzinfo=zone)
    until = datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone)
    return utc_iso(since), utc_iso(until)


def status_markdown(status: str) -> str:
    return f":{STATUS_MARKDOWN.get(status, 'gray')}-badge[{status}]"


def rows(n: int) -> str:
    return f"{n:,} row" + ("" if n == 1 else "s")


def share_text(part: int, whole: int) -> str:
    """A percentage that reads 100% (or 0%) only when it is: 10,249 of 10,279 is 99.7%, 10,278 is 99.99%."""
    percent = 100 * part / whole
    decimals = 0
    while 0 < part < whole and decimals < 6 and round(percent, decimals) in (0, 100):
        decimals += 1
    return f"{percent:.{decimals}f}%"
