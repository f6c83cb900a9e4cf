"""A run's MQR work beside its other work (run_mqr.py), against the sandbox over real HTTP: the ledger holds the
run's keys before its first request reaches the destination, a ledger that cannot be written fails the run before
anything is sent, and the held marks count what the run synced however it ended. The sandbox's `hold` fault
orders events; nothing depends on how fast the machine is."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing

from small_workspace import PROJECT
from sync_core.run_context import CancelToken
from test_run_stages import CancelAfter, people

LEDGER = "SELECT COUNT(*) FROM mqr_ledger"
SYNC_KEYS = "SELECT COUNT(*), SUM(held) FROM mqr_sync_keys"


def test_the_ledger_counts_a_runs_keys_before_its_first_request_reaches_the_destination(tmp_path, monkeypatch):
    with people(tmp_path, monkeypatch) as s:
        s.sandbox.add_fault("users/bulkUpdate", "hold", times=1)  # the first request waits for the test
        ended = []
        run = threading.Thread(target=lambda: ended.append(s.run()))
        run.start()
        try:
            assert s.server.wait_for_held(1, timeout=60), "the run never sent its first request"
            assert s.state_sql(LEDGER) == [(40,)]
            assert s.state_sql(SYNC_KEYS) == [(40, 0)]  # queried, none held yet
            assert s.state_sql("SELECT mqr_new FROM runs") == [(40,)]
        finally:
            s.server.release_held(drop=False)
            run.join()
        [record] = ended
        assert record.status == "healthy" and record.mqr_new == 40
        assert s.state_sql(SYNC_KEYS) == [(40, 40)]  # held once the run synced them


def test_a_ledger_that_cannot_be_written_fails_the_run_before_anything_is_sent(tmp_path, monkeypatch):
    with people(tmp_path, monkeypatch) as s:
        assert s.run().status == "healthy"
        s.sql("UPDATE people SET score = score + 1")
        s.sql("INSERT INTO people VALUES ('late@x.io', 'Late', 1)")  # a key new to the period's ledger
        with closing(sqlite3.connect(s.workspace.state_path)) as db:  # the disk fills as the ledger is written
            db.execute("CREATE TRIGGER full_disk BEFORE INSERT ON mqr_ledger "
                       "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
            db.commit()
        last = s.writes_since(0)[-1]["id"]
        snapshot = s.snapshot()
        failed = s.run()
        assert failed.status == "failed" and failed.error_class == "config"
        assert "state.sqlite" in failed.error and "Free space on the disk" in failed.error
        assert failed.counts.outcome("not_attempted") == 41 and failed.counts.outcome("synced") == 0
        assert s.writes_since(last) == [] and s.snapshot() == snapshot  # nothing sent, nothing marked synced
        assert s.state_sql(LEDGER) == [(40,)] and s.state_sql(SYNC_KEYS) == [(40, 40)]


def test_a_run_stopped_mid_way_counts_the_rows_it_synced_as_held(tmp_path, monkeypatch):
    with people(tmp_path, monkeypatch) as s:
        token = CancelToken()
        cancelled = s.run(cancel=token, observer=CancelAfter(token, 10))
        assert cancelled.status == "cancelled" and cancelled.counts.outcome("synced") == 10
        assert s.state_sql(LEDGER) == [(40,)] and s.state_sql(SYNC_KEYS) == [(40, 10)]
        assert s.run().status == "healthy" and len(s.sandbox.users(PROJECT)) == 40
        assert s.state_sql(SYNC_KEYS) == [(40, 40)]
