"""Retry failed rows (the dashboard's button, `run --retry-failed`) sends only the rows that failed or were rejected
for a real reason; the worker prunes row-level history past the workspace's retention, once a day."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from sync_core import StateStore, invariant_violations, load_workspace
from sync_core import worker as worker_module
from sync_core.clock import OffsetClock
from sync_core.mqr import period_start
from sync_core.mqr_report import mqr_report
from sync_core.sync_status import last_started, sync_statuses
from sync_core.worker import Worker
from small_workspace import small_workspace

DAY = 86_400


def test_a_retry_sends_only_the_rows_with_real_problems_and_leaves_other_changes_for_the_next_run(tmp_path,
                                                                                                   monkeypatch):
    rows = [("ana@x.io", 1.0), ("bob@x.io", 2.0), ("carl@x.io", 3.0), ("dave@x.io", float("nan"))]
    with small_workspace(tmp_path, monkeypatch, table="email VARCHAR, score DOUBLE", rows=rows,
                         mappings=[("score", "score")], sync_settings='schedule = "every 24h"') as s:
        s.create_users("ana@x.io", "bob@x.io", "dave@x.io")  # carl is not in Iterable: an expected rejection
        first = s.run(dated=OffsetClock(-3_600))  # an hour before the retry: the schedule tells them apart
        assert s.rejections() == {"carl@x.io": "NotFound", "dave@x.io": "UnsendableValue"}
        s.sql("UPDATE people SET score = 4 WHERE email = 'dave@x.io'")  # the fix
        s.sql("UPDATE people SET score = 10 WHERE email = 'ana@x.io'")  # an ordinary change
        s.create_users("eve@x.io")
        s.sql("INSERT INTO people VALUES ('eve@x.io', 5)")  # an ordinary addition
        mark = s.sandbox.last_request_id()
        carl_before = _rejection(s, "carl@x.io")

        retry = s.run(retry_failed=True)
        sent = [i for r in s.writes_since(mark) for i in r["identifiers"]]
        assert sent == ["dave@x.io"], "only the row with a real problem; the expected rejection is not retried"
        c = retry.counts.as_dict()
        assert invariant_violations(c) == []
        assert c["synced"] == 1 and c["not_attempted"] == 3  # ana's change, eve, and carl's expected rejection
        assert any("Retry of failed rows: 1 rows" in n and "the 3 other planned rows" in n for n in retry.notes)
        assert s.user("dave@x.io")["dataFields"] == {"score": 4}
        assert s.user("ana@x.io")["dataFields"] == {"score": 1}
        assert s.rejections() == {"carl@x.io": "NotFound"}
        assert _rejection(s, "carl@x.io") == carl_before, "a row the retry did not try was not seen again"
        assert retry.retry_failed and retry.to_json()["retry_failed"] is True
        shown = subprocess.run([sys.executable, "-m", "sync_core.cli", "-w", str(s.root), "run-show", str(retry.id)],
                               capture_output=True, text=True, timeout=120).stdout
        assert shown.startswith(f"Run {retry.id} of people: {retry.status.upper()} (retry failed rows)")

        # It left the other rows to the next run: the schedule still counts from the run that tried them all, and
        # what would save the sync's MQR is still read from that run's mix (the retry had no expected rejection)
        with StateStore(s.workspace.state_path) as store:
            [status] = sync_statuses(s.workspace, store, datetime.now(timezone.utc))
            [line] = mqr_report(s.workspace, store, datetime.now(timezone.utc).date()).by_sync
        assert status.last_run.id == retry.id and status.last_whole_run.id == first.id
        assert status.next_run_at == datetime.fromisoformat(first.started_at) + timedelta(hours=24)
        assert last_started(first, replace(retry, status="running")) == datetime.fromisoformat(first.started_at)
        assert "restricting model `people` to records that exist in Iterable" in line.saving

        after = s.run()
        assert after.counts.as_dict()["synced"] == 2 and s.user("ana@x.io")["dataFields"] == {"score": 10}
        assert first.id < retry.id < after.id


def _rejection(s, key: str) -> tuple:
    with StateStore(s.workspace.state_path) as store:
        [row] = store.rejections(sync_id="people", key=key)
    return row.times_seen, row.last_run_id


def test_the_worker_prunes_example_keys_past_the_retention_and_keeps_runs_and_counts(tmp_path, monkeypatch):
    with small_workspace(tmp_path, monkeypatch, table="email VARCHAR, score DOUBLE", rows=[("ana@x.io", 1.0)],
                         mappings=[("score", "score")], sync_settings="") as s:
        old = s.run(dated=OffsetClock(-40 * DAY))  # ana is not in Iterable: a cause with her key as example
        recent = s.run(dated=OffsetClock(-5 * DAY), full_resync=True)
        with open(s.root / "workspace.toml", "a") as toml:
            toml.write("\n[workspace]\nretention_days = 30\n")
        worker = Worker(s.root)
        try:
            worker.prune_if_due()
            with StateStore(s.workspace.state_path) as store:
                assert [c.example_keys for c in store.run_causes(old.id)] == [[]]
                assert [c.example_keys for c in store.run_causes(recent.id)] == [["ana@x.io"]]
                assert [c.rows for c in store.run_causes(old.id)] == [1], "counts and causes stay"
                assert store.get_run(old.id).counts.as_dict() == old.counts.as_dict()
                done = store.maintenance_done_at("retention")
            worker.prune_if_due()  # once a day: a second call the same day does nothing
            with StateStore(s.workspace.state_path) as store:
                assert store.maintenance_done_at("retention") == done
        finally:
            worker.store.close()


def test_the_worker_prunes_the_keys_of_mqr_periods_past_the_retention_and_their_report_stays(tmp_path, monkeypatch):
    """A closed period's keys (the ledger and each sync's) go once the period ended before the retention, a slice
    per call; its totals stay, so its report is the same; the current period's keys stay and count as before."""
    rows = [("ana@x.io", 1.0), ("bob@x.io", 2.0), ("carl@x.io", 3.0)]
    with small_workspace(tmp_path, monkeypatch, table="email VARCHAR, score DOUBLE", rows=rows,
                         mappings=[("score", "score")], sync_settings="") as s:
        s.create_users("ana@x.io", "bob@x.io")  # carl is not in Iterable: a record that bought nothing
        old = s.run(dated=OffsetClock(-130 * DAY))  # its period ended at least 99 days ago
        s.run()
        with open(s.root / "workspace.toml", "a") as toml:
            toml.write("\n[workspace]\nretention_days = 60\n")
        workspace = load_workspace(s.root)
        today = datetime.now(timezone.utc).date()
        old_day = datetime.fromisoformat(old.started_at).date()
        old_period, now_period = (period_start(d, 1).isoformat() for d in (old_day, today))

        def report(day):
            with StateStore(workspace.state_path, read_only=True) as store:
                return mqr_report(workspace, store, day).to_json()

        def keys(period):
            return s.state_sql(f"SELECT (SELECT COUNT(*) FROM mqr_ledger WHERE period_start = '{period}'), "
                               f"(SELECT COUNT(*) FROM mqr_sync_keys WHERE period_start = '{period}')")[0]
        before, current = report(old_day), report(today)
        assert keys(old_period) == keys(now_period) == (3, 3) and before["used"] == 3
        monkeypatch.setattr(worker_module, "MQR_PRUNE_ROWS_PER_TICK", 2)  # a slice per call
        worker = Worker(s.root)
        try:
            assert worker.prune_mqr_keys() == 2 and keys(old_period) == (1, 3)
            while worker.prune_mqr_keys():
                pass
            assert keys(old_period) == (0, 0) and keys(now_period) == (3, 3)
            assert worker.prune_mqr_keys() == 0
        finally:
            worker.store.close()
        assert report(old_day) == before and report(today) == current
        assert before["by_sync"][0]["unproductive"] == 1
        again = s.run()
        assert again.mqr_new == 0 and report(today)["used"] == 3, "the current period's keys still count once"
