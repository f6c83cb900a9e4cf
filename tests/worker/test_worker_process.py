"""The worker as a user runs it: `sync-core worker` processes, `sync-core run --enqueue`, `run-cancel`, SIGTERM
and SIGKILL, over a demo workspace and its sandbox on loopback. The sandbox's `hold` fault keeps a run mid-way
for as long as a test needs; waits are bounded polls of the state store, never assertions on time."""

from __future__ import annotations

import getpass
import os
import signal
import time

import pytest

from sync_core import invariant_violations
from demo_helpers import demo_workspace
from worker_helpers import cli, finished, runs, store_of, wait_for, worker

SYNC = "iterable-production"
FAST = 'batch_size = 40\nrate_limits = { "users/bulkUpdate" = "200/s", "export/data.json" = "100/min" }'


@pytest.fixture
def scheduled_demo(tmp_path):
    """The demo as it comes: its Iterable syncs run every 24 h, and have never run, so all are due at once."""
    with demo_workspace(tmp_path, rate_limits=False, destination_settings=FAST) as d:
        yield d


@pytest.fixture
def demo(scheduled_demo):
    """Runs only when asked (schedules are tested in test_worker_schedules.py)."""
    path = scheduled_demo.root / "workspace.toml"
    path.write_text(path.read_text().replace('schedule = "every 24h"', 'schedule = "manual"'))
    return scheduled_demo


def enqueue_until_held(demo, held: int = 1):
    """Queue a run of SYNC from the CLI, and wait until the sandbox's `hold` fault holds `held` of its requests:
    the run then stays mid-way until the test releases them. The CLI's answer."""
    queued = cli(demo, "run", SYNC, "--enqueue")
    assert demo.server.wait_for_held(held, timeout=120), f"the sandbox never held {held} of the run's requests"
    return queued


def test_a_cli_request_is_run_once_by_the_worker_and_a_second_one_is_answered_with_the_first(demo):
    demo.sandbox.add_fault("users/bulkUpdate", "hold", after=1)  # the run stays in progress until released
    with worker(demo) as process:
        first = enqueue_until_held(demo)
        assert "queued as request" in first.stdout
        second = cli(demo, "run", SYNC, "--enqueue", "--full-resync")
        [run] = runs(demo)
        assert f"already running (run {run.id})" in second.stdout
        assert run.status == "running" and run.phase == "sync"
        demo.sandbox.clear_faults()
        demo.server.release_held(drop=False)
        wait_for(finished(demo, 1), "the run never finished", process)
        assert process.poll() is None, "the worker stays up between runs"
    [run] = runs(demo)
    assert (run.trigger, run.requested_by, run.full_resync) == ("cli", getpass.getuser(), False)
    assert run.status in ("healthy", "warning") and invariant_violations(run.counts.as_dict()) == []
    assert {k.lower() for k in demo.snapshot()} == demo.stored()


def test_an_unknown_sync_cannot_be_queued(demo):
    done = cli(demo, "run", "iterable-prod", "--enqueue", check=False)
    assert done.returncode == 2
    assert "no sync with id 'iterable-prod'" in done.stderr and "Did you mean 'iterable-production'" in done.stderr
    assert store_of(demo, lambda s: s.open_requests()) == []


def test_a_request_for_a_sync_removed_since_fails_with_that_message(demo):
    cli(demo, "run", SYNC, "--enqueue")
    text = (demo.root / "workspace.toml").read_text()
    (demo.root / "workspace.toml").write_text(text.replace(f"syncs.{SYNC}", "syncs.iterable-renamed"))
    with worker(demo) as process:
        wait_for(lambda: not store_of(demo, lambda s: s.open_requests()), "the request was never answered", process)
    [run] = runs(demo)
    assert run.status == "failed" and run.error_class == "config"
    assert f"sync '{SYNC}' is no longer in the workspace" in run.error
    assert store_of(demo, lambda s: s.get_request(1)).run_id == run.id


def release_until(demo, done, what: str, process) -> None:
    """Answer held requests one at a time until `done()`: a run that has not yet seen its stop sends more, which
    are held in turn, so the run cannot finish before it has seen it."""
    def step():
        demo.server.release_held(drop=False)
        time.sleep(0.4)
        return done()
    wait_for(step, what, process)


def test_a_cancel_from_another_process_stops_the_run_after_its_requests_in_flight(demo):
    existing = {u["email"] for u in demo.users()}
    demo.sandbox.add_fault("users/bulkUpdate", "hold", after=2)
    with worker(demo) as process:
        enqueue_until_held(demo)
        [run] = runs(demo)
        done = cli(demo, "run-cancel", str(run.id), "--yes", "--wait", "0")  # the run waits for its held request
        assert "asked to stop" in done.stdout
        release_until(demo, finished(demo, 1), "the cancelled run never ended", process)
        [cancelled] = runs(demo)
        assert cancelled.status == "cancelled", cancelled.error
        assert f"cancelled by {getpass.getuser()}" in cancelled.error
        assert invariant_violations(cancelled.counts.as_dict()) == []
        assert cancelled.counts.as_dict()["not_attempted"] > 0
        # Every request that went out was answered and recorded: the snapshot holds exactly what was stored.
        assert {k.lower() for k in demo.snapshot()} == demo.stored()

        demo.sandbox.clear_faults()
        cli(demo, "run", SYNC, "--enqueue")  # the next run sends the rest
        wait_for(finished(demo, 2), "the next run never ended", process)
    assert {k.lower() for k in demo.snapshot()} == demo.stored() == existing & demo.valid_emails()


def test_sigterm_lets_the_requests_in_flight_finish_and_records_the_run_interrupted(demo):
    demo.sandbox.add_fault("users/bulkUpdate", "hold", after=2)
    with worker(demo) as process:
        enqueue_until_held(demo, 2)
        process.process.send_signal(signal.SIGTERM)
        wait_for(lambda: "stopping" in process.output, "the worker did not hear SIGTERM", process)
        release_until(demo, lambda: process.poll() is not None, "the worker never exited", None)
        assert process.poll() == 0, process.output
    [run] = runs(demo)
    assert run.status == "interrupted" and "worker running it was asked to stop" in run.error
    assert invariant_violations(run.counts.as_dict()) == []
    assert run.counts.as_dict()["not_attempted"] > 0
    assert {k.lower() for k in demo.snapshot()} == demo.stored(), "the requests in flight were recorded"
    assert all(not w.alive for w in store_of(demo, lambda s: s.workers()))


def test_a_sigkilled_workers_run_is_recovered_by_a_second_worker(demo):
    existing = {u["email"] for u in demo.users()}
    demo.sandbox.add_fault("users/bulkUpdate", "hold", after=3)
    with worker(demo) as first:
        enqueue_until_held(demo)
        os.kill(first.pid, signal.SIGKILL)
        first.process.wait(timeout=30)
    demo.sandbox.clear_faults()
    demo.server.release_held(drop=True)  # the dead worker's connections are cut
    with worker(demo) as second:
        wait_for(lambda: runs(demo)[0].status == "interrupted", "the dead worker's run was not recovered", second)
        assert store_of(demo, lambda s: s.open_requests()) == [], "the dead worker's request is closed"
        cli(demo, "run", SYNC, "--enqueue")
        wait_for(finished(demo, 2), "the second worker never ran the sync", second)
    killed, rerun = sorted(runs(demo), key=lambda r: r.id)
    assert killed.status == "interrupted" and invariant_violations(killed.counts.as_dict()) == []
    assert rerun.status in ("healthy", "warning")
    assert {k.lower() for k in demo.snapshot()} == demo.stored() == existing & demo.valid_emails()


def test_two_workers_schedules_and_cli_requests_never_run_a_sync_twice_at_once(scheduled_demo):
    demo = scheduled_demo
    syncs = [SYNC, "iterable-first-namespace", "iterable-first-namespace-events", "iterable-customers-list"]
    with worker(demo) as one, worker(demo, "--concurrency", "2") as two:  # both see every schedule due
        wait_for(lambda: len(store_of(demo, lambda s: s.schedule_marks())) == len(syncs), "the schedules never fired",
                 one)
        for _ in range(3):
            for sync_id in syncs:
                cli(demo, "run", sync_id, "--enqueue")  # several asks while runs are queued or running: one each
            wait_for(lambda: not store_of(demo, lambda s: s.open_requests()), "the queue never emptied", one)
        assert one.poll() is None and two.poll() is None, "both workers stay up"
    scheduled = [r for sync_id in syncs for r in runs(demo, sync_id) if r.trigger == "schedule"]
    assert sorted(r.sync_id for r in scheduled) == sorted(syncs), "each due schedule ran once, not once per worker"
    for sync_id in syncs:
        spans = sorted((r.started_at, r.finished_at) for r in runs(demo, sync_id))
        assert spans and all(s[1] is not None for s in spans)
        assert all(earlier[1] <= later[0] for earlier, later in zip(spans, spans[1:])), f"{sync_id} overlapped"
