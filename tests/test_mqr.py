from datetime import date, datetime, timedelta, timezone

import pytest

from sync_core.demo.workspace import history_period_start_day
from sync_core.mqr import period_start


@pytest.mark.parametrize("day, start_day, expected", [
    (date(2026, 11, 29), 1, date(2026, 11, 1)),
    (date(2026, 11, 14), 15, date(2026, 10, 15)),
    (date(2026, 11, 15), 15, date(2026, 11, 15)),
    (date(2026, 1, 3), 5, date(2025, 12, 5)),
])
def test_billing_period_starts_on_the_configured_day(day, start_day, expected):
    assert period_start(day, start_day) == expected


@pytest.mark.parametrize("today", [date(2026, 12, 1), date(2026, 12, 2), date(2026, 3, 1), date(2024, 3, 1),
                                   date(2026, 5, 1), date(2026, 2, 2), date(2026, 7, 15)])
@pytest.mark.parametrize("days", [1, 3, 4])
def test_a_demo_history_is_one_billing_period_whatever_the_date(today, days):
    """`sync-core up` starts the demo's period on its history's first day: on the 1st or 2nd of a month (or past a
    short February) the history is still one period, so the MQR forecast has every day of it."""
    now = datetime(today.year, today.month, today.day, 12, tzinfo=timezone.utc).timestamp()
    start_day = history_period_start_day(days, now)
    assert period_start(today, start_day) == today - timedelta(days=days - 1)
