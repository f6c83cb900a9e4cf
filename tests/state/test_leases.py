"""A running run holds a lease: any process, on any host, tells a dead run from a live one by it, not by a pid
that only means something where it was recorded. Time is a manual clock: no test waits for a lease."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from sync_core import RunCounts, StateStore
from sync_core.clock import ManualClock
from sync_core.errors import RunFenced, WorkspaceBusyError
from sync_core.outcomes import RowProblem
from sync_core.state.run_log import LEASE_SECONDS, RunProgress, iso_utc


def status(path, run_id: int, clock: ManualClock, *, read_only: bool = False) -> str:
    """The run's status as a new opener sees it (a read-write opener records the dead runs it finds)."""
    with StateStore(path, lease_clock=clock, read_only=read_only) as store:
        return store.get_run(run_id).status


def test_a_run_whose_lease_expired_is_interrupted_by_another_opener_though_its_process_lives(tmp_path):
    path, clock = tmp_path / "state.sqlite", ManualClock()
    with StateStore(path, lease_clock=clock) as worker:
        run = worker.start_run("x", trigger="test", config_fingerprint="f")  # this process: alive, this host
        clock.advance(LEASE_SECONDS - 1)
        assert status(path, run, clock, read_only=True) == status(path, run, clock) == "running"
        clock.advance(2)  # the worker hangs (or its clock's heartbeats stop): the lease lapses
        assert status(path, run, clock, read_only=True) == "interrupted"  # the dashboard's read, writing nothing
        with StateStore(path, lease_clock=clock) as other:
            record = other.get_run(run)
            assert record.status == "interrupted" and "sent again by the next run" in record.error
            other.start_run("x", trigger="test", config_fingerprint="f")  # the sync is free again
        assert worker.renew_lease(run) is False  # the worker learns it no longer holds the run


def record_remote_run(path, *, lease_expires_at: str) -> int:
    """A run recorded by a worker on another host: a pid that names no process here."""
    pid_max = int(open("/proc/sys/kernel/pid_max").read())  # pids are below it: this one exists nowhere here
    db = sqlite3.connect(path)
    with db:
        run_id = db.execute(
            "INSERT INTO runs (sync_id, trigger, status, config_fingerprint, started_at, pid, pid_started, host,"
            " lease_expires_at) VALUES ('x', 'schedule', 'running', 'f', '2026-01-01T00:00:00+00:00', ?, 4242,"
            " 'worker-7 pid:[4026532999]', ?)", (pid_max, lease_expires_at)).lastrowid
    db.close()
    return run_id


def test_a_live_lease_from_another_host_keeps_its_run_running_though_its_pid_is_unknown_here(tmp_path):
    path, clock = tmp_path / "state.sqlite", ManualClock()
    StateStore(path, lease_clock=clock).close()
    run = record_remote_run(path, lease_expires_at=iso_utc(clock.now() + 60))
    assert status(path, run, clock, read_only=True) == status(path, run, clock) == "running"
    with StateStore(path, lease_clock=clock) as store, pytest.raises(WorkspaceBusyError) as refused:
        store.start_run("x", trigger="test", config_fingerprint="f")
    assert "already running" in str(refused.value) and "on worker-7" in str(refused.value)
    assert f"sync-core run-cancel {run}" in str(refused.value)
    clock.advance(61)  # the worker stopped renewing: its lease lapsed
    assert status(path, run, clock) == "interrupted"


def test_a_run_that_renews_its_lease_stays_alive_past_its_first_lease(tmp_path):
    path, clock = tmp_path / "state.sqlite", ManualClock()
    with StateStore(path, lease_clock=clock) as worker:
        run = worker.start_run("x", trigger="test", config_fingerprint="f")
        clock.advance(LEASE_SECONDS - 10)
        worker.save_progress(run, RunCounts(), {}, [])  # after each batch
        clock.advance(LEASE_SECONDS - 10)  # past the first lease, within the renewed one
        assert status(path, run, clock) == "running"
        worker._heartbeats[run].beat()  # a long phase (the query): the heartbeat thread renews meanwhile
        clock.advance(LEASE_SECONDS - 10)
        assert status(path, run, clock) == "running"
        worker.finish_run(run, status="healthy", counts=RunCounts(), phases={}, notes=[])
        clock.advance(LEASE_SECONDS * 10)  # a finished run holds no lease: nothing lapses
        assert status(path, run, clock) == "healthy"


def test_each_run_a_store_started_keeps_its_own_heartbeat_until_it_ends_or_the_store_closes(tmp_path):
    """Two runs started through one store (two syncs) both stay alive through a long phase; finishing one stops
    only its heartbeat; closing the store stops the other's (no thread is left renewing a lease)."""
    path, clock = tmp_path / "state.sqlite", ManualClock()
    before = {t for t in threading.enumerate() if t.name == "lease-heartbeat"}
    with StateStore(path, lease_clock=clock) as worker:
        first = worker.start_run("x", trigger="test", config_fingerprint="f")
        second = worker.start_run("y", trigger="test", config_fingerprint="f")
        clock.advance(LEASE_SECONDS - 10)
        for run in (first, second):
            worker._heartbeats[run].beat()
        clock.advance(LEASE_SECONDS - 10)
        assert (status(path, first, clock), status(path, second, clock)) == ("running", "running")
        worker.finish_run(first, status="healthy", counts=RunCounts(), phases={}, notes=[])
        assert list(worker._heartbeats) == [second]
    assert {t for t in threading.enumerate() if t.name == "lease-heartbeat"} == before



def test_a_batch_of_a_run_another_process_marked_interrupted_is_not_recorded_and_its_rows_are_forgotten(tmp_path):
    """The fence: once a run is marked interrupted elsewhere, its batches record nothing, and the rows they name
    leave the snapshot (a successor may have sent newer values since), so the next run sends them again."""
    path, clock = tmp_path / "state.sqlite", ManualClock()
    with StateStore(path, lease_clock=clock) as zombie:
        run = zombie.start_run("x", trigger="test", config_fingerprint="f")
        zombie.commit_batch(run, "x", fingerprint="f", synced=[("a@x.io", "old"), ("b@x.io", "old")])
        clock.advance(LEASE_SECONDS + 1)  # it stopped renewing (SIGSTOP, a lost network)
        with StateStore(path, lease_clock=clock) as successor:
            assert status(path, run, clock) == "interrupted"
            after = successor.start_run("x", trigger="test", config_fingerprint="f")
            successor.commit_batch(after, "x", fingerprint="f", synced=[("a@x.io", "new"), ("c@x.io", "new")])
            successor.finish_run(after, status="healthy", counts=RunCounts(), phases={}, notes=[])
        with pytest.raises(RunFenced, match="marked interrupted by another process"):
            zombie.commit_batch(run, "x", fingerprint="f", synced=[("a@x.io", "old")],
                                problems=[RowProblem("d@x.io", "rejected", "X", "x", "data", "h")])
        zombie.finish_run(run, status="healthy", counts=RunCounts(), phases={}, notes=[])
        assert zombie.snapshot_keys("x") == {"b@x.io", "c@x.io"}
        assert zombie.rejections(sync_id="x") == []
        ended = zombie.get_run(run)
    assert ended.status == "interrupted" and "went on after the run was marked interrupted" in ended.notes[-1]


def test_a_batchs_progress_is_recorded_with_it_renewing_the_lease_and_not_at_all_once_the_run_is_fenced(tmp_path):
    """One transaction per request: the run's counts with the batch settled go in with the batch's rows, and renew
    the lease; a batch of a run marked interrupted elsewhere records neither its rows nor its counts."""
    path, clock = tmp_path / "state.sqlite", ManualClock()
    with StateStore(path, lease_clock=clock) as worker:
        run = worker.start_run("x", trigger="test", config_fingerprint="f")
        counts = RunCounts()
        counts.plan("added", 3)
        counts.settle("added", "synced", 2)
        clock.advance(LEASE_SECONDS - 10)
        worker.commit_batch(run, "x", fingerprint="f", synced=[("a@x.io", "h"), ("b@x.io", "h")],
                            progress=RunProgress(counts, {"sync": 1.5}, ["a note"]))
        record = worker.get_run(run)
        assert record.counts.as_dict()["synced"] == 2 and record.counts.as_dict()["not_attempted"] == 1
        assert record.phases == {"sync": 1.5} and record.notes == ["a note"]
        clock.advance(LEASE_SECONDS - 10)  # past the first lease, within the one the batch renewed
        assert status(path, run, clock) == "running"
        clock.advance(LEASE_SECONDS + 1)  # then it stopped renewing: another opener marks it interrupted
        assert status(path, run, clock) == "interrupted"
        counts.settle("added", "synced", 1)
        with pytest.raises(RunFenced):
            worker.commit_batch(run, "x", fingerprint="f", synced=[("c@x.io", "h")],
                                progress=RunProgress(counts, {"sync": 2.0}, []))
        record = worker.get_run(run)
        assert record.counts.as_dict()["synced"] == 2 and record.phases == {"sync": 1.5}
        assert worker.snapshot_keys("x") == {"a@x.io", "b@x.io"}
