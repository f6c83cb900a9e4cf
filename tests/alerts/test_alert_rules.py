"""When an alert is raised: on a change of a sync's health or schedule, once, whoever observes. Runs are recorded
through the real state store (as the runner records them); the alerts are recorded, here with no channel."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import replace

import pytest

from alert_fixtures import T0, make_workspace, minutes, record_run
from sync_core import Alerts, StateStore
from sync_core.state.alert_log import NewAlert
from sync_core.state.schema import MIGRATIONS, _statements


@pytest.fixture
def ws(tmp_path):
    return make_workspace(tmp_path / "ws")


def kinds(alerts) -> list[str]:
    return [a.kind for a in alerts]


def test_one_alert_per_change_of_health_never_one_per_run(ws):
    with StateStore(ws.state_path) as store:
        alerts = Alerts(ws, store)
        steps = [("healthy", []), ("warning", []), ("failed", ["failed"]), ("failed", []), ("blocked", []),
                 ("warning", ["recovered"]), ("healthy", []), ("blocked", ["failed"]), ("healthy", ["recovered"])]
        for i, (status, expected) in enumerate(steps):
            record_run(store, status, error="boom" if status == "failed" else None)
            assert kinds(alerts.observe(T0 + minutes(i))) == expected, (i, status)
        assert len(store.recent_alerts()) == 4
        assert store.alert_state("people").status == "healthy"


def test_runs_that_say_nothing_of_health_change_nothing(ws):
    """Interrupted, cancelled and running runs, and dry runs (planned, or even failed), leave the health be."""
    with StateStore(ws.state_path) as store:
        alerts = Alerts(ws, store)
        record_run(store, "failed", error="Snowflake password expired")
        assert kinds(alerts.observe(T0)) == ["failed"]
        for status in ("interrupted", "cancelled"):
            record_run(store, status)
        record_run(store, "planned", run_type="dry_run")
        record_run(store, "healthy", run_type="dry_run")  # not a status a dry run ends with, but still a dry run
        assert alerts.observe(T0) == []
        running = record_run(store, "running")
        assert alerts.observe(T0) == [] and store.alert_state("people").last_run_id == running - 1
        store.finish_run(running, status="healthy", counts=store.get_run(running).counts, phases={}, notes=[])
        assert kinds(alerts.observe(T0)) == ["recovered"]
        assert store.alert_state("people").last_run_id == running


def test_a_sync_first_seen_alerts_only_if_its_latest_run_failed(tmp_path):
    """Turning alerts on over a history raises nothing old: a sync alerts have not seen takes its latest health."""
    ws = make_workspace(tmp_path / "ws")
    with StateStore(ws.state_path) as store:
        for status in ("failed", "healthy", "failed", "healthy"):
            record_run(store, status, sync_id="recovered-since")
        for status in ("healthy", "failed", "healthy", "failed"):
            record_run(store, status, sync_id="failing-now")
        raised = Alerts(ws, store).observe(T0)
    assert [(a.sync_id, a.kind) for a in raised] == [("failing-now", "failed")]
    assert "first run seen by alerts → failed (run 8" in raised[0].message


def test_overdue_alerts_once_when_a_sync_falls_behind_and_once_when_it_is_back(ws):
    with StateStore(ws.state_path) as store:
        alerts = Alerts(ws, store)
        run_id = record_run(store, "healthy")
        [late] = alerts.observe(T0, overdue={"people": "due 26 h ago"})
        assert late.kind == "overdue" and late.subject == "People-Production is overdue" and late.run_id == run_id
        assert "People-Production is overdue: due 26 h ago (schedule: every 24h)." in late.message
        assert f"Latest run: {run_id}, healthy" in late.message
        assert "Run details" not in late.message  # no dashboard_url: nothing to link to
        assert alerts.observe(T0 + minutes(1), overdue={"people": "due 27 h ago"}) == []
        assert alerts.observe(T0 + minutes(2)) == []  # None: the caller says nothing of schedules
        [back] = alerts.observe(T0 + minutes(3), overdue={})
        assert back.kind == "back_on_schedule" and back.subject == "People-Production is back on schedule"
        assert alerts.observe(T0 + minutes(4), overdue={}) == []
        # Overdue and failing are separate: both alert.
        record_run(store, "failed")
        assert sorted(kinds(alerts.observe(T0 + minutes(5), overdue={"people": "due 2 h ago"}))) == [
            "failed", "overdue"]


def test_two_observers_of_one_store_raise_each_alert_once(ws):
    with StateStore(ws.state_path) as one, StateStore(ws.state_path) as two:
        first, second = Alerts(ws, one), Alerts(ws, two)
        record_run(one, "failed")
        seen = two.alert_state("people")  # the second observer reads, then the first records
        assert kinds(first.observe(T0)) == ["failed"]
        new = replace(seen, health="failed", status="failed", status_run_id=1, last_run_id=1)
        stale = NewAlert("failed", 1, "People-Production failed (run 1)", "...")
        assert two.record_alerts(seen, new, [stale], ("webhook",), "2026-03-02T09:00:00+00:00") is None
        assert second.observe(T0) == [] and len(one.recent_alerts()) == 1
        assert one.recent_alerts()[0].deliveries == ()  # no channel configured, none written by the loser


def test_observers_racing_in_threads_raise_each_alert_once(ws):
    """Any interleaving of two observers (each on its own connection) gives the same alerts."""
    with StateStore(ws.state_path) as store:
        for status in ("healthy", "failed"):
            record_run(store, status)
    start, raised = threading.Barrier(2), []

    def observe():
        with StateStore(ws.state_path) as store:
            alerts = Alerts(ws, store)
            start.wait()
            for i in range(5):
                raised.extend(alerts.observe(T0 + minutes(i), overdue={"people": "due 1 h ago"}))

    threads = [threading.Thread(target=observe) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(kinds(raised)) == ["failed", "overdue"]
    with StateStore(ws.state_path) as store:
        assert len(store.recent_alerts()) == 2


def test_recent_alerts_reads_a_store_from_before_alerts(tmp_path):
    """The dashboard opens a store read-only without migrating it: an older one simply has no alerts."""
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:8], start=1):
        for statement in _statements(script):
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {number}")
    db.close()
    with StateStore(path, read_only=True) as store:
        assert store.recent_alerts() == []


def test_observe_wants_an_aware_time(ws):
    with StateStore(ws.state_path) as store, pytest.raises(ValueError, match="aware datetime"):
        Alerts(ws, store).observe(T0.replace(tzinfo=None))
