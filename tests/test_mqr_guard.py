"""The MQR budget guard: a run that would count more records than the period allows (the limit less the reserve)
is stopped before it sends or counts anything under `policy = "block"`, runs with a warning under "warn"; a dry
run says what it would add and counts nothing. And the `[mqr]` settings' bad input, and billing periods that
start on the 29th to the 31st."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date

import pytest

from sync_core import StateStore
from sync_core.mqr import current_period_start, period_end, period_start
from sync_core.mqr_report import mqr_report
from small_workspace import small_workspace
from test_config import BASE, error

ROWS = [(f"user{i}@x.io", float(i)) for i in range(10)]


@contextmanager
def people(tmp_path, monkeypatch, mqr: str):
    """Ten users to upsert, under the `[mqr]` settings given."""
    with small_workspace(tmp_path, monkeypatch, table="email VARCHAR, score DOUBLE", rows=ROWS,
                         mappings=[("score", "score")], mode="upsert") as s:
        with open(s.root / "workspace.toml", "a") as toml:
            toml.write(f"\n[mqr]\n{mqr}\n")
        yield s


def used(s) -> int:
    with StateStore(s.workspace.state_path) as store:
        return sum(store.mqr_usage(current_period_start(1).isoformat()).values())


def test_block_stops_a_run_that_would_pass_the_budget_before_it_sends_anything(tmp_path, monkeypatch):
    with people(tmp_path, monkeypatch, 'limit = 12\npolicy = "block"\nreserve = 0.25') as s:  # budget 9 of 12
        mark = s.sandbox.last_request_id()
        record = s.run()
        assert record.status == "failed" and record.error_class == "config"
        assert record.error.startswith("MQR budget: this run would count 10 records new to the billing period")
        assert "over the limit of 12 less its reserve: a budget of 9 for the syncs." in record.error
        assert "Nothing was sent, and nothing counted" in record.error
        assert s.sandbox.requests(since_id=mark) == [], "the sandbox received no request"
        assert used(s) == 0 and s.snapshot() == {}


def test_warn_runs_and_records_the_warning(tmp_path, monkeypatch):
    with people(tmp_path, monkeypatch, 'limit = 9\npolicy = "warn"') as s:
        record = s.run()
        assert record.status == "healthy" and record.counts.as_dict()["synced"] == 10
        assert any(n.startswith("Warning: MQR budget: this run would count 10") and 'policy = "warn"' in n
                   for n in record.notes)
        assert used(s) == 10 and record.mqr_new == 10


def test_a_dry_run_reports_the_mqr_it_would_add_and_counts_none(tmp_path, monkeypatch):
    with people(tmp_path, monkeypatch, 'limit = 9\npolicy = "block"') as s:
        record = s.run(dry_run=True)
        assert record.status == "planned" and record.mqr_new == 10
        assert any(n.startswith("A run would be blocked. MQR budget:") for n in record.notes)
        assert used(s) == 0


@pytest.mark.parametrize("mqr, key, problem", [
    ("limit = -5", "mqr.limit", "must be a positive number of records, not -5"),
    ("limit = 1.5e6", "mqr.limit", "must be int, not float"),
    ("limit = 100\nreserve = 150", "mqr.reserve", "keeps 150 records of a limit of 100"),
    ("reserve = 1.5", "mqr.reserve", "a share of the limit (0 to 0.99) or a number of records"),
    ("billing_period_start_day = 0", "mqr.billing_period_start_day", "1 to 31, not 0"),
    ("billing_period_start_day = 32", "mqr.billing_period_start_day", "1 to 31, not 32"),
    ('policy = "stop"', "mqr.policy", "must be one of warn, block"),
])
def test_bad_mqr_settings_name_their_key(tmp_path, mqr, key, problem):
    message = error(tmp_path, f"[mqr]\n{mqr}\n" + BASE)
    assert f"workspace.toml: {key}" in message and problem in message


@pytest.mark.parametrize("day, start_day, start, end", [
    (date(2027, 2, 14), 31, date(2027, 1, 31), date(2027, 2, 28)),  # February has no 31st: its last day
    (date(2027, 2, 28), 31, date(2027, 2, 28), date(2027, 3, 31)),
    (date(2028, 2, 29), 30, date(2028, 2, 29), date(2028, 3, 30)),  # a leap year
    (date(2027, 4, 30), 31, date(2027, 4, 30), date(2027, 5, 31)),
    (date(2026, 12, 31), 1, date(2026, 12, 1), date(2027, 1, 1)),
])
def test_periods_starting_on_the_29th_to_31st_start_on_a_short_months_last_day(day, start_day, start, end):
    assert period_start(day, start_day) == start and period_end(start, start_day) == end


def test_a_ledger_kept_under_another_billing_start_day_is_reported_as_it_was_counted(tmp_path, monkeypatch):
    with people(tmp_path, monkeypatch, "billing_period_start_day = 1") as s:
        s.run()
        text = (s.root / "workspace.toml").read_text()
        (s.root / "workspace.toml").write_text(text.replace("billing_period_start_day = 1",
                                                            "billing_period_start_day = 15"))
        with StateStore(s.workspace.state_path, read_only=True) as store:
            report = mqr_report(s.workspace, store, current_period_start(1))
        assert any("start on another day than billing_period_start_day 15" in n for n in report.notes)
