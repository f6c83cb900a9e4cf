"""Every fault the sandbox can inject, met by a whole run: the final counts, and nothing marked synced that
the sandbox did not store. The sandbox and the run share a clock running 20x fast, so Retry-After and
backoff waits take a twentieth of their time."""

from __future__ import annotations

import socket
import time

import pytest

from sync_core import StateStore, invariant_violations
from sync_core.clock import ManualClock, ScaledClock
from demo_helpers import demo_workspace

BATCH = 100
TIMEOUT = 1.5  # seconds
SLOW = 2.0  # seconds: past the timeout


@pytest.fixture
def faulty(tmp_path):
    clock = ScaledClock(20)
    # The client's timeout is in real seconds: long enough that a busy machine's slow answer is not a timeout
    # (which would spend one of the 4 attempts a fault test counts on), shorter than the `slow` fault's delay.
    settings = f"batch_size = {BATCH}\ntimeout_seconds = {TIMEOUT}\nmax_attempts = 4"
    with demo_workspace(tmp_path, clock=clock, destination_settings=settings) as d:
        d.existing = {u["email"] for u in d.users()} & d.valid_emails()  # the rows a run can sync
        yield d


def run_with_fault(demo, kind, **options):
    demo.sandbox.add_fault("users/bulkUpdate", kind, **options)
    record = demo.run("iterable-production")
    counts = record.counts.as_dict()
    assert invariant_violations(counts) == []
    assert {k.lower() for k in demo.snapshot()} <= demo.stored(), "marked synced but never stored"
    return record, counts


def everyone_synced(demo, counts):
    assert {k.lower() for k in demo.snapshot()} == demo.existing & demo.stored()
    assert counts["synced"] == len(demo.existing) and counts["failed"] == 0


@pytest.mark.parametrize("kind, options", [
    ("rate_limit", {"retry_after": 2, "times": 3}),
    ("rate_limit", {"times": 3}),  # no Retry-After: backoff
    ("rate_limit", {"body": "text", "times": 2}),
    ("server_error", {"status": 500, "times": 2}),
    ("server_error", {"status": 502, "times": 2}),
    ("server_error", {"status": 503, "times": 3}),
    ("slow", {"delay": SLOW, "times": 1}),  # past the client timeout: stored, then sent again
    ("drop", {"times": 2}),
    ("malformed", {"times": 2}),  # stored, but the answer is unreadable: sent again
])
def test_transient_faults_are_retried_within_the_run(faulty, kind, options):
    record, counts = run_with_fault(faulty, kind, **options)
    assert record.status == "warning"  # the demo's invalid keys; no failure left by the fault
    everyone_synced(faulty, counts)
    [fault] = faulty.sandbox.faults()
    assert fault["hits"] == options["times"]


def test_a_fault_that_outlasts_the_retries_leaves_rows_failed_for_the_next_run(faulty):
    record, counts = run_with_fault(faulty, "server_error", status=503, after=2)
    assert counts["synced"] == 2 * BATCH and counts["failed"] == len(faulty.existing) - 2 * BATCH
    assert record.status == "failed"  # far over the sync's 10% threshold
    with StateStore(faulty.workspace.state_path) as store:
        causes = {c.code: c for c in store.run_causes(record.id)}
    assert causes["HTTP 503 GenericError"].error_class == "transient"
    faulty.sandbox.clear_faults()
    second = faulty.run("iterable-production")
    assert second.counts.as_dict()["retried"] >= counts["failed"]
    everyone_synced(faulty, second.counts.as_dict() | {"synced": counts["synced"] + second.counts.as_dict()["synced"]})


def test_a_batch_refused_for_one_bad_row_is_split_and_only_that_row_is_rejected(faulty):
    bad = sorted(faulty.existing)[17]
    record, counts = run_with_fault(faulty, "bad_row", identifier=bad)
    assert bad not in demo_snapshot_lower(faulty) and bad not in faulty.stored()
    with StateStore(faulty.workspace.state_path) as store:
        [state] = store.rejections(key=bad)
    assert (state.code, state.error_class) == ("BadParams", "data") and bad in state.message
    assert counts["synced"] == len(faulty.existing) - 1


def test_a_401_in_the_middle_stops_the_run_with_a_config_error(faulty):
    record, counts = run_with_fault(faulty, "unauthorized", after=3)
    assert record.status == "failed" and record.error_class == "config"
    assert "destination 'iterable'" in record.error and "HTTP 401" in record.error
    assert counts["synced"] == 3 * BATCH and counts["not_attempted"] > 0
    assert len(faulty.stored()) == 3 * BATCH


def test_a_request_refused_whatever_it_holds_stops_the_run_without_splitting(faulty):
    record, counts = run_with_fault(faulty, "refused", code="NotAllowed")
    assert record.status == "failed" and record.error_class == "config"
    assert record.error.startswith("destination 'iterable' answered HTTP 400 NotAllowed")
    assert len(faulty.sandbox.requests(endpoint="users/bulkUpdate")) <= 2  # the two in flight, neither split
    assert counts["synced"] == 0 and faulty.snapshot() == set()


def demo_snapshot_lower(demo) -> set[str]:
    return {k.lower() for k in demo.snapshot()}


# The look-up's export runs in a thread while the model is queried: its faults must reach the run the same way.

def test_a_401_on_the_look_up_stops_the_run_before_any_write(faulty):
    faulty.sandbox.add_fault("export/data.json", "unauthorized")
    record = faulty.run("iterable-production")
    assert record.status == "failed" and record.error_class == "config"
    assert "destination 'iterable'" in record.error and "HTTP 401" in record.error
    assert invariant_violations(record.counts.as_dict()) == []
    assert faulty.sandbox.requests(endpoint="users/bulkUpdate") == [] and faulty.snapshot() == set()


@pytest.mark.parametrize("kind, options", [("server_error", {"status": 503, "times": 2}),
                                           ("malformed", {"times": 1}), ("drop", {"times": 1})])
def test_a_look_up_that_fails_for_a_moment_is_retried(faulty, kind, options):
    faulty.sandbox.add_fault("export/data.json", kind, **options)
    record = faulty.run("iterable-production")
    assert record.status == "warning"
    everyone_synced(faulty, record.counts.as_dict())
    [fault] = faulty.sandbox.faults()
    assert fault["hits"] == options["times"]


def test_a_look_up_that_keeps_failing_stops_the_run_naming_the_destination(faulty):
    faulty.sandbox.add_fault("export/data.json", "server_error", status=503)
    record = faulty.run("iterable-production")
    assert record.status == "failed" and record.error_class == "transient"
    assert record.error.startswith("destination 'iterable' answered HTTP 503")
    assert "the look-up of existing records failed 4 times" in record.error and "the next run tries again" in record.error
    assert invariant_violations(record.counts.as_dict()) == []
    assert faulty.sandbox.requests(endpoint="users/bulkUpdate") == [] and faulty.snapshot() == set()


def lead_score_in_sandbox(demo, email: str):
    [user] = [u for u in demo.users() if u["email"] == email]
    return user["dataFields"].get("leadScore")


def test_a_failed_change_that_is_reverted_is_still_sent_again(faulty):
    """A timed-out write may have been stored: once its row is back to the synced values, they must be resent,
    or the destination keeps the value that failed for good."""
    demo = faulty
    first = demo.run("iterable-production")
    key = sorted(demo.existing)[3]
    [(score,)] = demo.warehouse(f"SELECT lead_score FROM marketing_contacts WHERE email = '{key}'")
    assert lead_score_in_sandbox(demo, key) == score and first.counts.as_dict()["failed"] == 0

    demo.edit_warehouse("UPDATE marketing_contacts SET lead_score = lead_score + 1000 WHERE email = ?", [key])
    record, counts = run_with_fault(demo, "slow", delay=SLOW)  # stored, but every answer comes too late
    demo.sandbox.clear_faults()
    # The run gave up on its last attempt while the sandbox still held it: wait for that late write to land, or
    # on a busy machine it lands after the next run's and undoes it (a late write wins at any vendor).
    deadline = time.monotonic() + 60
    while any(r["duration_ms"] is None for r in demo.sandbox.requests()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert counts["failed"] == 1 and lead_score_in_sandbox(demo, key) == score + 1000

    demo.edit_warehouse("UPDATE marketing_contacts SET lead_score = lead_score - 1000 WHERE email = ?", [key])
    third = demo.run("iterable-production")
    assert third.counts.as_dict()["synced"] == 1 and third.counts.as_dict()["failed"] == 0
    assert lead_score_in_sandbox(demo, key) == score
    assert demo.rejections(key) == []


def test_a_destination_that_refuses_connections_fails_the_run_at_once_saying_to_start_the_sandbox(tmp_path):
    """Nothing listens at base_url (the sandbox is not running): the run stops after one short retry, instead of
    spending the export's 4-a-minute slots on attempts that never reached the vendor and waiting a minute."""
    clock = ManualClock()  # advances only when the client waits: the test reads the time the run spent waiting
    with socket.socket() as dead, demo_workspace(tmp_path, clock=clock) as demo:
        dead.bind(("127.0.0.1", 0))  # bound, never listening: connections to it are refused
        port = dead.getsockname()[1]
        demo.edit_workspace(f"127.0.0.1:{demo.server.port}", f"127.0.0.1:{port}")
        demo.edit_workspace(f"port = {demo.server.port}", f"port = {port}")
        started = clock.now()
        runs = [demo.run("iterable-production") for _ in range(3)]
        waited = clock.now() - started
    for record in runs:
        assert record.status == "failed" and record.error_class == "transient"  # the next run tries again
        assert record.error.startswith("destination 'iterable' answered ConnectionRefused")
        assert f"127.0.0.1:{port}" in record.error and f"sync-core -w {demo.root} sandbox" in record.error
        assert invariant_violations(record.counts.as_dict()) == []
        assert record.counts.as_dict()["synced"] == 0
    # Three runs, each one pause of a second before its second try; no backoff, no wait for a rate-limit window.
    assert waited <= 3 * 1.0 + 0.5
