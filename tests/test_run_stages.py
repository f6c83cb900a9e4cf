"""A run as stages over a run context: its id is announced before it does any work, its end is announced
whatever it was, and a cancel stops it between requests without losing a row."""

from __future__ import annotations

import pytest

from small_workspace import PROJECT, small_workspace
from sync_core import StateStore
from sync_core.progress import SilentObserver
from sync_core.run_context import CancelToken, RunEvents
from sync_core.run_mqr import RunMqr

ROWS = [(f"user{i}@x.io", f"U{i}", i) for i in range(40)]


def people(tmp_path, monkeypatch, **kwargs):
    return small_workspace(tmp_path, monkeypatch, table="email VARCHAR, first_name VARCHAR, score INTEGER",
                           rows=ROWS, mappings=[("first_name", "firstName"), ("score", "score")], mode="upsert",
                           destination_settings="batch_size = 5\nconcurrency = 1", **kwargs)


class CancelAfter(SilentObserver):
    """Cancels the run once `rows` rows have settled (as a user pressing Cancel mid-run would)."""

    def __init__(self, token: CancelToken, rows: int):
        self.token, self.rows = token, rows

    def progress(self, done: int, total: int) -> None:
        if done >= self.rows:
            self.token.cancel()


def test_a_run_announces_its_id_first_and_its_record_last(tmp_path, monkeypatch):
    seen = []
    events = RunEvents(started=[lambda run_id: seen.append(("started", run_id, s.snapshot()))],
                       finished=[lambda record: seen.append(("finished", record.id, record.status))])
    with people(tmp_path, monkeypatch) as s:
        record = s.run(events=events)
        assert seen == [("started", record.id, {}), ("finished", record.id, "healthy")]
        s.sql("DELETE FROM people")
        blocked = s.run(events=events)  # an end that is not a success is announced too
        assert seen[-1] == ("finished", blocked.id, "blocked")


def test_a_cancelled_run_stops_between_requests_and_the_next_run_sends_the_rest(tmp_path, monkeypatch):
    with people(tmp_path, monkeypatch) as s:
        token = CancelToken()
        cancelled = s.run(cancel=token, observer=CancelAfter(token, 10))
        c = cancelled.counts
        assert cancelled.status == "cancelled" and "cancelled" in cancelled.error
        assert c.outcome("synced") == 10 and c.outcome("not_attempted") == 30  # no request after the cancel
        assert len(s.writes_since(0)) == 2 and len(s.sandbox.users(PROJECT)) == 10
        assert len(s.snapshot()) == 10  # exactly what the destination confirmed

        finished = s.run()
        assert finished.status == "healthy" and finished.counts.outcome("synced") == 30
        assert len(s.sandbox.users(PROJECT)) == 40


def test_a_run_cancelled_before_it_starts_sends_nothing_and_records_nothing(tmp_path, monkeypatch):
    with people(tmp_path, monkeypatch) as s:
        token = CancelToken()
        token.cancel()
        record = s.run(cancel=token)
        assert record.status == "cancelled" and s.writes_since(0) == [] and s.snapshot() == {}
        assert s.state_sql("SELECT COUNT(*) FROM mqr_ledger") == [(0,)]


def test_a_retry_after_longer_than_a_run_waits_leaves_the_rows_for_the_next_run(tmp_path, monkeypatch):
    from sync_core.clock import ManualClock
    with people(tmp_path, monkeypatch) as s:
        s.sandbox.add_fault("users/bulkUpdate", "rate_limit", times=1, retry_after=3600)
        clock = ManualClock()
        started = clock.now()
        record = s.run(clock=clock)
        assert clock.now() - started < 60  # the hour was not waited out (a manual clock: no real time passes)
        assert record.counts.outcome("failed") == 5 and record.counts.outcome("synced") == 35
        with StateStore(s.workspace.state_path) as store:
            [failed] = {r.message for r in store.rejections(sync_id="people")}
        assert "asked to wait 3600 s" in failed and "max_retry_after_seconds = 300" in failed
        assert s.run(clock=clock).counts.outcome("synced") == 5  # the next run sends them


def test_a_second_ctrl_c_in_the_runs_last_step_still_records_its_ending(tmp_path, monkeypatch):
    """Ctrl-C pressed again while the run joins its MQR work: the record is finished as interrupted at once (not
    left `running` until its lease lapses), and the next run sends nothing twice."""
    with people(tmp_path, monkeypatch) as s:
        def interrupted_settle(self):
            raise KeyboardInterrupt
        with monkeypatch.context() as patched, pytest.raises(KeyboardInterrupt):
            patched.setattr(RunMqr, "settle", interrupted_settle)
            s.run()
        with StateStore(s.workspace.state_path) as store:
            [record] = store.list_runs(sync_id="people")
        assert record.status == "interrupted" and record.finished_at is not None
        assert len(s.snapshot()) == 40  # every row it sent was confirmed before the end
        again = s.run()
        assert again.status == "healthy", again.error
        assert again.counts.outcome("synced") == 0 and len(s.writes_since(0)) == 8
