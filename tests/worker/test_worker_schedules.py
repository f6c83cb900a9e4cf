"""Schedules as the worker fires them, on a controlled clock: due, missed during downtime (one run), paused,
resumed, overdue; and cron in a time zone across a daylight-saving change. The worker's own loop is not started:
each test calls its schedule step, so nothing depends on timing."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

from sync_core import StateStore
from sync_core.clock import ManualClock, OffsetClock
from sync_core.sync_status import sync_statuses
from sync_core.worker import Worker
from small_workspace import small_workspace

HOUR = 3600


@pytest.fixture
def scheduled(tmp_path, monkeypatch):
    def make(schedule: str):
        return small_workspace(tmp_path, monkeypatch, table="email VARCHAR, plan VARCHAR",
                               rows=[("ana@example.com", "pro")], mappings=[("plan", "plan")], sync_settings=schedule)
    return make


def requests(small) -> list:
    """The requests the schedule asked for; each is withdrawn once counted, as if it had run."""
    with StateStore(small.workspace.state_path) as store:
        found = [r for r in store.open_requests() if r.trigger == "schedule"]
        for r in found:
            store.withdraw(r.id, "test")
    return found


def utc(clock) -> datetime:
    return datetime.fromtimestamp(clock.now(), timezone.utc)


def test_every_n_is_due_once_however_long_the_downtime_and_not_while_paused(scheduled):
    with scheduled('schedule = "every 1h"') as small:
        clock = ManualClock(time.time())
        worker = Worker(small.root, clock=clock)
        try:
            worker.fire_schedules()
            assert len(requests(small)) == 1, "a sync that never ran is due at once"
            worker.fire_schedules()
            clock.advance(HOUR - 60)
            worker.fire_schedules()
            assert requests(small) == [], "not again before its interval"

            clock.advance(5 * HOUR)  # the worker was down for five intervals
            worker.fire_schedules()
            worker.fire_schedules()
            assert len(requests(small)) == 1, "missed slots run once"

            with StateStore(small.workspace.state_path) as store:
                store.pause_sync("people", "ana@example.com")
            clock.advance(3 * HOUR)
            worker.fire_schedules()
            assert requests(small) == []
            with StateStore(small.workspace.state_path) as store:
                [status] = sync_statuses(small.workspace, store, utc(clock))
            assert status.paused and status.next_run_at is None and status.overdue_by is None

            with StateStore(small.workspace.state_path) as store:
                store.resume_sync("people")
            worker.fire_schedules()
            assert len(requests(small)) == 1, "resumed: the slot it is late for runs, once"
        finally:
            worker.store.close()


def test_a_sync_late_by_more_than_its_interval_is_overdue_with_its_last_runs_error(scheduled):
    with scheduled('schedule = "every 24h"') as small:
        record = small.run()  # no user in the sandbox, update-only: expected rejections, a healthy run
        with StateStore(small.workspace.state_path) as store:
            started = datetime.fromisoformat(record.started_at)
            [on_time] = sync_statuses(small.workspace, store, started + timedelta(hours=30))
            [late] = sync_statuses(small.workspace, store, started + timedelta(hours=50))
        assert on_time.overdue_by is None and on_time.next_run_at == started + timedelta(hours=24)
        assert late.overdue_text() == f"due 26 h ago, last run {record.status}"
        assert late.to_json()["overdue"] is True


def test_cron_in_a_time_zone_runs_its_slot_when_the_clock_jumps_in_spring(scheduled):
    # Europe/Paris skips 02:00-03:00 on 28 March 2027: the 02:30 slot runs at 03:00 CEST, 01:00 UTC (cronsim's rule)
    with scheduled('cron = "30 2 * * *"\ntimezone = "Europe/Paris"') as small:
        clock = ManualClock(datetime(2027, 3, 27, 12, 0, tzinfo=timezone.utc).timestamp())
        worker = Worker(small.root, clock=clock)
        try:
            worker.fire_schedules()
            assert requests(small) == [], "a cron sync that never ran waits for its first slot"
            clock.advance(datetime(2027, 3, 28, 0, 59, tzinfo=timezone.utc).timestamp() - clock.now())
            worker.fire_schedules()
            assert requests(small) == []
            clock.advance(60)  # 01:00 UTC = 03:00 CEST
            worker.fire_schedules()
            assert len(requests(small)) == 1
            with StateStore(small.workspace.state_path) as store:
                assert store.schedule_marks()["people"].last_fired == datetime(2027, 3, 28, 1, 0, tzinfo=timezone.utc)
                [status] = sync_statuses(small.workspace, store, utc(clock))
            # the next slot is 02:30 CEST, 00:30 UTC, one day minus 30 minutes later
            assert status.next_run_at == datetime(2027, 3, 29, 0, 30, tzinfo=timezone.utc)
            clock.advance(datetime(2027, 3, 29, 0, 30, tzinfo=timezone.utc).timestamp() - clock.now())
            worker.fire_schedules()
            assert len(requests(small)) == 1
        finally:
            worker.store.close()



def test_a_typo_in_the_workspace_is_logged_once_while_it_lasts_and_its_end_is_said(scheduled, caplog):
    with scheduled('schedule = "every 1h"') as small:
        worker = Worker(small.root, clock=ManualClock(time.time()))
        toml = small.root / "workspace.toml"
        good = toml.read_text()
        try:
            toml.write_text(good.replace('schedule = "every 1h"', 'schedul = "every 1h"'))
            for _ in range(5):  # the loop checks schedules every few seconds
                worker.fire_schedules()
            toml.write_text(good)
            worker.fire_schedules()
        finally:
            worker.store.close()
    said = [r.getMessage() for r in caplog.records if r.name == "sync_core.worker"]
    assert len([m for m in said if m.startswith("schedules not checked")]) == 1, said
    assert "schedul" in said[0] and said[-1] == "schedules checked again: the problem above is gone"
    assert len(requests(small)) == 1, "fixed: the schedule fires"


def test_a_run_whose_time_has_passed_is_due_until_a_worker_asks_for_it(scheduled):
    with scheduled('schedule = "every 1h"') as small:
        small.run(dated=OffsetClock(-HOUR - 60))  # its next slot was a minute ago: not yet an interval late
        clock = ManualClock(time.time())
        with StateStore(small.workspace.state_path) as store:
            [status] = sync_statuses(small.workspace, store, utc(clock))
        assert status.overdue_by is None and status.due(utc(clock))
        done = subprocess.run([sys.executable, "-m", "sync_core.cli", "-w", str(small.root), "syncs"],
                              capture_output=True, text=True, timeout=120)
        assert "due since" in done.stdout and "a worker starts it" in done.stdout, done.stdout
        worker = Worker(small.root, clock=clock)
        try:
            worker.fire_schedules()
        finally:
            worker.store.close()
        with StateStore(small.workspace.state_path) as store:
            [status] = sync_statuses(small.workspace, store, utc(clock))
        assert status.request is not None and not status.due(utc(clock)), "asked for: no longer waiting"
