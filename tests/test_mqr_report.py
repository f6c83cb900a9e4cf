"""The MQR report on the demo over several simulated days of one billing period, then the first day of the next,
checked against figures computed independently: the keys each day's models returned (from the warehouse) and
what the sandbox stored (its request log), never the ledger."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date, datetime, timezone

import pytest

from sync_core import StateStore
from sync_core.clock import OffsetClock
from sync_core.demo.workspace import advance_demo
from sync_core.destinations.base import WHITESPACE
from sync_core.mqr_report import mqr_report
from demo_helpers import demo_workspace

DAYS = [date(2026, 10, 10), date(2026, 10, 11), date(2026, 10, 12), date(2026, 10, 13), date(2026, 10, 14)]
NEXT_PERIOD = date(2026, 11, 2)
SYNCS = ("iterable-production", "iterable-first-namespace")
FAST = 'rate_limits = { "users/bulkUpdate" = "200/s", "export/data.json" = "100/min" }'
MODEL_KEYS = {  # each model's primary key column, over the same contacts as its SQL
    "iterable-production": "SELECT email FROM marketing_contacts WHERE deleted_at IS NULL",
    "iterable-first-namespace": "SELECT c.email FROM marketing_contacts c JOIN namespaces n ON "
                                "n.created_by_user_id = c.user_id WHERE c.deleted_at IS NULL",
}


def at(day: date) -> OffsetClock:
    """Runs dated at noon UTC of `day`."""
    return OffsetClock(datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc).timestamp() - time.time())


def keys_of(demo, sync_id: str) -> set[str]:
    keys = {(e or "").strip(WHITESPACE) for (e,) in demo.warehouse(MODEL_KEYS[sync_id])}
    return keys - {""}


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    """Five days of both syncs in October, then one run in November; what each day queried, from the warehouse."""
    with demo_workspace(tmp_path_factory.mktemp("mqr"), rate_limits=False, destination_settings=FAST) as demo:
        queried = {s: set() for s in SYNCS}
        first_request = demo.sandbox.last_request_id()
        for i, day in enumerate(DAYS):
            if i:
                advance_demo(demo.workspace)
            for sync_id in SYNCS:
                queried[sync_id] |= keys_of(demo, sync_id)
                demo.run(sync_id, dated=at(day))
        stored = demo.stored(since_id=first_request)  # what Iterable accepted in October, lower-cased emails
        advance_demo(demo.workspace)
        november = keys_of(demo, "iterable-production")
        demo.run("iterable-production", dated=at(NEXT_PERIOD))
        yield demo, queried, stored, november


def report(demo, day: date, today: date):
    with StateStore(demo.workspace.state_path, read_only=True) as store:
        return mqr_report(demo.workspace, store, day, today=today)


def test_used_is_the_distinct_keys_the_models_returned_in_the_period(month):
    demo, queried, _, november = month
    october = report(demo, DAYS[0], today=DAYS[-1])
    assert october.used == len(queried["iterable-production"] | queried["iterable-first-namespace"])
    by_sync = {s.sync_id: s for s in october.by_sync}
    assert sum(s.first_counted for s in october.by_sync) == october.used  # each key counts once, for its first sync
    assert sum(s.queried for s in october.by_sync) >= october.used
    assert {s: by_sync[s].queried for s in SYNCS} == {s: len(queried[s]) for s in SYNCS}
    assert [p.cumulative for p in october.daily][-1] == october.used and len(october.daily) == len(DAYS)

    new_period = report(demo, NEXT_PERIOD, today=NEXT_PERIOD)
    assert new_period.period_start == date(2026, 11, 1) and new_period.used == len(november)
    assert new_period.earlier == [(date(2026, 10, 1), october.used)]


def test_unproductive_mqr_is_the_keys_queried_that_iterable_never_held_in_the_period(month):
    demo, queried, stored, _ = month
    keys = queried["iterable-production"]
    never = {k for k in keys if k.lower() not in stored}
    [line] = [s for s in report(demo, DAYS[0], today=DAYS[-1]).by_sync if s.sync_id == "iterable-production"]
    assert line.unproductive == len(never) > 0
    assert "restricting model `contacts` to records that exist in Iterable would save up to" in line.saving
    assert "another sync of the same people" in line.saving  # an upper bound: overlapping syncs still count


def test_the_forecast_states_its_method_and_a_range(month):
    demo, *_ = month
    october = report(demo, DAYS[0], today=DAYS[-1])
    f = october.forecast
    assert f.reason is None and "mean of the last 4 days" in f.method
    assert f.low <= f.expected <= f.high and f.expected >= october.used
    too_early = report(demo, DAYS[0], today=DAYS[1]).forecast
    assert too_early.expected is None and "too little history" in too_early.reason


def test_the_cli_prints_the_same_report_as_json(month):
    demo, *_ = month
    done = subprocess.run([sys.executable, "-m", "sync_core.cli", "-w", str(demo.root), "mqr", "--period",
                           "2026-10-20", "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    october = report(demo, DAYS[0], today=date(2026, 10, 20))
    assert shown["used"] == october.used and shown["period_start"] == "2026-10-01"
    assert shown["period_end"] == "2026-11-01" and shown["current"] is False
    assert shown["forecast"]["method"] == "a closed period: its total is final"
    empty = subprocess.run([sys.executable, "-m", "sync_core.cli", "-w", str(demo.root), "mqr", "--period",
                            "2025-01-15"], capture_output=True, text=True, timeout=120)
    assert empty.returncode == 0 and "No records counted in this period yet." in empty.stdout
    bad = subprocess.run([sys.executable, "-m", "sync_core.cli", "-w", str(demo.root), "mqr", "--period", "Oct"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "not a date: give YYYY-MM-DD" in bad.stderr
