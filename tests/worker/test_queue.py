"""The run queue in the state store: one open request per sync, a request taken by one worker only, a schedule's
slot fired once whoever fires it, a withdrawn request never runs."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

from sync_core import RunCounts, StateStore
from sync_core.state.run_queue import CancelWatch


def test_a_second_request_for_a_queued_sync_is_answered_with_the_first(tmp_path):
    with StateStore(tmp_path / "state.sqlite") as store:
        first = store.enqueue("people", trigger="dashboard", requested_by="ana@example.com")
        again = store.enqueue("people", trigger="cli", requested_by="bob", full_resync=True)
        other = store.enqueue("orders", trigger="cli", requested_by="bob")
        assert first.new and other.new
        assert (again.state, again.request_id) == ("already_queued", first.request_id)
        assert again.describe() == f"already queued (request {first.request_id})"
        assert [r.sync_id for r in store.open_requests()] == ["people", "orders"]


def test_a_request_is_taken_by_one_worker_and_a_sync_in_progress_is_skipped(tmp_path):
    with StateStore(tmp_path / "state.sqlite") as a, StateStore(tmp_path / "state.sqlite") as b:
        a.enqueue("people", trigger="cli", requested_by="bob")
        a.enqueue("orders", trigger="cli", requested_by="bob")
        one = a.register_worker(1)
        two = b.register_worker(1)
        first = a.take_request(one)
        second = b.take_request(two)
        assert {first.sync_id, second.sync_id} == {"people", "orders"}
        assert a.take_request(one) is None and b.take_request(two) is None
        run_id = a.start_run("people", trigger="cli", config_fingerprint="x")  # a run in progress elsewhere
        a.close_request(first.id if first.sync_id == "people" else second.id)
        answer = b.enqueue("people", trigger="dashboard", requested_by="dashboard")
        assert (answer.state, answer.run_id) == ("already_running", run_id)


def test_a_withdrawn_request_is_never_taken(tmp_path):
    with StateStore(tmp_path / "state.sqlite") as store:
        request = store.enqueue("people", trigger="dashboard", requested_by="dashboard").request_id
        assert store.withdraw(request, "ana@example.com")
        assert store.take_request(store.register_worker(1)) is None
        assert store.get_request(request).status == "withdrawn"
        assert not store.withdraw(request, "ana@example.com")


def test_a_schedule_slot_is_fired_once_even_by_two_workers(tmp_path):
    slot = datetime(2026, 12, 1, 6, tzinfo=timezone.utc)
    with StateStore(tmp_path / "state.sqlite") as a, StateStore(tmp_path / "state.sqlite") as b:
        assert a.fire_schedule("people", slot, None).new
        assert b.fire_schedule("people", slot, None) is None  # b read the mark before a fired
        assert a.schedule_marks()["people"].last_fired == slot
        assert len(a.open_requests()) == 1


def test_a_paused_schedule_fires_nothing_until_resumed(tmp_path):
    slot = datetime(2026, 12, 1, 6, tzinfo=timezone.utc)
    with StateStore(tmp_path / "state.sqlite") as store:
        store.pause_sync("people", "ana@example.com")
        assert store.schedule_marks()["people"].paused_by == "ana@example.com"
        assert store.fire_schedule("people", slot, None) is None
        store.resume_sync("people")
        assert store.fire_schedule("people", slot, None).new


def test_a_request_whose_run_has_ended_no_longer_answers_for_the_sync(tmp_path):
    """The worker closes a request a moment after its run ends: a click in that moment is a new run."""
    with StateStore(tmp_path / "state.sqlite") as store:
        store.enqueue("people", trigger="cli", requested_by="bob")
        request = store.take_request(store.register_worker(1))
        run_id = store.start_run("people", trigger="cli", config_fingerprint="x")
        store.attach_run(request.id, run_id)
        assert store.enqueue("people", trigger="dashboard", requested_by="ana").state == "already_running"
        store.finish_run(run_id, status="healthy", counts=RunCounts(), phases={}, notes=[])
        assert store.enqueue("people", trigger="dashboard", requested_by="ana").new


def test_a_cancel_is_seen_in_a_store_whose_path_has_uri_characters(tmp_path):
    path = tmp_path / "ws #1 ?50%" / "state.sqlite"
    path.parent.mkdir()
    with StateStore(path) as store:
        run_id = store.start_run("people", trigger="cli", config_fingerprint="x")
        seen = threading.Event()
        watch = CancelWatch(path, run_id, lambda by: seen.set(), every=0.05)
        try:
            assert store.request_cancel(run_id, "ana")
            assert seen.wait(timeout=60), "the watch never saw the cancel"
        finally:
            watch.stop()
