from datetime import date

import pytest

from sync_core.mqr import period_start


@pytest.mark.parametrize("day, start_day, expected", [
    (date(2026, 11, 29), 1, date(2026, 11, 1)),
    (date(2026, 11, 14), 15, date(2026, 10, 15)),
    (date(2026, 11, 15), 15, date(2026, 11, 15)),
    (date(2026, 1, 3), 5, date(2025, 12, 5)),
])
def test_billing_period_starts_on_the_configured_day(day, start_day, expected):
    assert period_start(day, start_day) == expected
