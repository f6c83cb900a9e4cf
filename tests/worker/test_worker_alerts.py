"""The worker raises and delivers alerts: real runs over the sandbox, a real webhook on loopback. One alert when a
sync starts failing (its API key revoked), none while it keeps failing, one when it recovers; one when it becomes
overdue."""

from __future__ import annotations

import subprocess
from contextlib import contextmanager
import sys
import time
from datetime import datetime, timezone

from sync_core import StateStore
from sync_core.clock import ManualClock, OffsetClock
from sync_core.worker import Worker, check_alerts
from alert_receivers import Webhook
from small_workspace import KEY, small_workspace

HOOK_ENV = "WORKER_TEST_HOOK"


@contextmanager
def alerting(tmp_path, monkeypatch, schedule: str):
    """(a webhook on loopback, a one-user workspace on that schedule whose alerts go to it)."""
    with Webhook() as hook, small_workspace(tmp_path, monkeypatch, table="email VARCHAR, score DOUBLE",
                                            rows=[("ana@x.io", 1.0)], mappings=[("score", "score")],
                                            sync_settings=f'schedule = "{schedule}"') as s:
        monkeypatch.setenv(HOOK_ENV, hook.url())
        with open(s.root / "workspace.toml", "a") as toml:
            toml.write(f'\n[alerts.webhook]\nurl = "env:{HOOK_ENV}"\n')
        yield hook, s


def test_one_alert_per_change_of_status_and_when_a_sync_becomes_overdue(tmp_path, monkeypatch):
    with alerting(tmp_path, monkeypatch, "every 24h") as (hook, s):
        s.create_users("ana@x.io")
        clock = ManualClock(time.time())
        worker = Worker(s.root, clock=clock)
        try:
            assert s.run().status == "healthy"
            worker.check_alerts()
            monkeypatch.setenv("SMALL_ITERABLE_KEY", "revoked")
            failed = s.run()
            assert failed.status == "failed"
            worker.check_alerts()
            assert s.run().status == "failed"
            worker.check_alerts()  # still failing: no second alert
            monkeypatch.setenv("SMALL_ITERABLE_KEY", KEY)
            assert s.run().status == "healthy"
            worker.check_alerts()
            assert len(hook.texts) == 2, hook.texts
            assert f"failed (run {failed.id}" in hook.texts[0] and "people" in hook.texts[0]
            assert "healthy" in hook.texts[1]

            clock.advance(50 * 3600)  # no worker ran it for two days
            worker.check_alerts()
            assert len(hook.texts) == 3 and "due 26 h ago" in hook.texts[2], hook.texts
            worker.check_alerts()
            assert len(hook.texts) == 3, "one alert when it becomes overdue, not one per look"
        finally:
            worker.store.close()


def test_a_watchdog_run_of_check_alerts_reports_a_sync_no_worker_ran_and_pausing_it_is_not_a_recovery(
        tmp_path, monkeypatch):
    with alerting(tmp_path, monkeypatch, "every 1h") as (hook, s):
        s.run(dated=OffsetClock(-3 * 3600))  # its last run, three hours ago; no worker since
        done = subprocess.run([sys.executable, "-m", "sync_core.cli", "-w", str(s.root), "check-alerts"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert len(hook.texts) == 1 and "overdue" in hook.texts[0].lower() and "due 2 h ago" in hook.texts[0]

        with StateStore(s.workspace.state_path) as store:
            store.pause_sync("people", "ana@example.com")
        check_alerts(s.root, datetime.now(timezone.utc))
        assert len(hook.texts) == 1, "a paused sync is not back on schedule"
