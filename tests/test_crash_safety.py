"""A run killed mid-way (SIGKILL) never marks an unsent row as synced, and the next run sends the rest.

The sandbox drives the kill: it answers k bulkUpdates, holds the next one, and the test kills the sync
process while that request is held."""

from __future__ import annotations

import math
import signal
import subprocess
import sys

import pytest

from sync_core import StateStore, invariant_violations
from demo_helpers import demo_workspace

BATCH = 40
FAST = f'batch_size = {BATCH}\nrate_limits = {{ "users/bulkUpdate" = "200/s", "export/data.json" = "100/min" }}'


@pytest.fixture
def fast_demo(tmp_path):
    with demo_workspace(tmp_path, rate_limits=False, destination_settings=FAST) as d:
        yield d


@pytest.mark.parametrize("k", [1, 4, 9])
def test_kill_after_k_of_n_batches_loses_nothing(fast_demo, k):
    demo = fast_demo
    existing = {u["email"] for u in demo.users()}
    demo.kill_after_writes("iterable-production", "users/bulkUpdate", k)

    answered = [r for r in demo.sandbox.requests(endpoint="users/bulkUpdate") if r["status"] == 200]
    with StateStore(demo.workspace.state_path) as store:  # opening the workspace notices the dead run
        [killed] = store.list_runs()
        in_snapshot = store.snapshot_keys("iterable-production")
    n = math.ceil(len(existing & demo.valid_emails()) / BATCH)  # requests a whole run makes
    assert 0 < k == len(answered) < n
    assert killed.status == "interrupted"
    assert invariant_violations(killed.counts.as_dict()) == []
    assert killed.counts.as_dict()["not_attempted"] > 0
    assert {key.lower() for key in in_snapshot} <= demo.stored(), "a key is marked synced that was never stored"

    rerun = demo.run("iterable-production")
    assert rerun.status == "warning" and invariant_violations(rerun.counts.as_dict()) == []
    assert {key.lower() for key in demo.snapshot()} == demo.stored() == existing & demo.valid_emails()
    # At-least-once: what the killed run had sent but not committed is sent again, at most the requests in flight.
    sent_twice = sum(len(r["stored"] or []) for r in demo.sandbox.requests(endpoint="users/bulkUpdate")) \
        - len(demo.stored())
    assert 0 <= sent_twice <= 2 * BATCH


def test_ctrl_c_mid_run_records_the_run_as_interrupted_and_the_next_run_sends_the_rest(fast_demo):
    demo = fast_demo
    existing = {u["email"] for u in demo.users()}
    demo.sandbox.add_fault("users/bulkUpdate", "hold", after=2)
    sync = subprocess.Popen([sys.executable, "-m", "sync_core.cli", "-w", str(demo.root), "run", "iterable-production"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert demo.server.wait_for_held(2, timeout=60), "the sync never had its third and fourth batch in flight"
        sync.send_signal(signal.SIGINT)
    finally:
        demo.sandbox.clear_faults()
        demo.server.release_held(drop=True)
        _, err = sync.communicate(timeout=60)
    assert sync.returncode == 130, err
    assert "Traceback" not in err
    assert "Run 1 of iterable-production interrupted: the rows it had not confirmed are sent by the next run " \
           "(`sync-core run-show 1`)." in err
    # Nothing was sent after Ctrl-C: not the queued batches, nor a retry of the two dropped in flight.
    assert len(demo.sandbox.requests(endpoint="users/bulkUpdate")) == 4

    with StateStore(demo.workspace.state_path) as store:
        [stopped] = store.list_runs()
        in_snapshot = store.snapshot_keys("iterable-production")
    assert stopped.status == "interrupted" and stopped.error_class == "transient", stopped.error
    assert "sent again by the next run" in stopped.error
    assert invariant_violations(stopped.counts.as_dict()) == []
    assert stopped.counts.as_dict()["failed"] == 2 * BATCH  # the two in flight: maybe stored, so sent again
    assert {key.lower() for key in in_snapshot} <= demo.stored()
    rerun = demo.run("iterable-production")
    assert {key.lower() for key in demo.snapshot()} == demo.stored() == existing & demo.valid_emails()
    assert rerun.status == "warning"


def test_a_run_marked_interrupted_while_it_still_sends_stops_and_leaves_its_batch_to_the_next_run(fast_demo):
    """A process another one judged dead (its lease lapsed while it was stopped or cut off; here `run-cancel
    --force`) wakes with batches in flight, after a successor run has sent everything. It sends nothing more, its
    batches' rows are not recorded as synced (the snapshot forgets them: the destination may hold its older
    values), it keeps the ending recorded for it, and the next run sends those rows again."""
    demo = fast_demo
    existing = {u["email"] for u in demo.users()}
    demo.sandbox.add_fault("users/bulkUpdate", "hold", after=2)
    zombie = subprocess.Popen([sys.executable, "-m", "sync_core.cli", "-w", str(demo.root), "run",
                               "iterable-production"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert demo.server.wait_for_held(2, timeout=60), "the sync never had its third and fourth batch in flight"
        with StateStore(demo.workspace.state_path) as other:
            [first] = other.list_runs()
            assert other.cancel_run(first.id)  # as a process that found the lease lapsed would
        demo.sandbox.clear_faults()
        successor = demo.run("iterable-production")
        assert successor.status == "warning"
        assert {key.lower() for key in demo.snapshot()} == existing & demo.valid_emails()
        sent_before_waking = len(demo.sandbox.requests(endpoint="users/bulkUpdate"))
        assert demo.server.release_held(drop=False) == 2  # the zombie's two batches reach the destination
        out, err = zombie.communicate(timeout=120)
    finally:
        demo.server.release_held(drop=True)
        if zombie.poll() is None:
            zombie.kill()
            zombie.wait()
    assert zombie.returncode == 1 and "Traceback" not in err, err
    assert "INTERRUPTED" in out and "went on after the run was marked interrupted" in out, out
    # Its two released batches were answered (a held request is logged when it completes); nothing after them.
    assert len(demo.sandbox.requests(endpoint="users/bulkUpdate")) == sent_before_waking + 2
    with StateStore(demo.workspace.state_path) as store:
        first = store.get_run(first.id)
        forgotten = existing & demo.valid_emails() - {k.lower() for k in store.snapshot_keys("iterable-production")}
    assert first.status == "interrupted" and "went on after the run was marked interrupted" in " ".join(first.notes)
    assert 0 < len(forgotten) <= 2 * BATCH
    rerun = demo.run("iterable-production")
    assert rerun.counts.as_dict()["synced"] == len(forgotten)
    assert {key.lower() for key in demo.snapshot()} == demo.stored() == existing & demo.valid_emails()
