"""Faults met while reading the destination back: retried, and a read that stays broken is reported as partial,
never as complete. And one reconciliation per sync at a time."""

from __future__ import annotations

import threading

import pytest

from demo_helpers import demo_workspace
from sync_core import StateStore
from sync_core.clock import ManualClock
from sync_core.reconcile import ReconcileError, reconcile

SYNC = "iterable-production"
EXPORT = "export/data.json"


@pytest.fixture
def demo(tmp_path):
    """Two attempts per request: a fault that outlasts them is met within the export's 4 calls a minute."""
    with demo_workspace(tmp_path, destination_settings="max_attempts = 2") as d:
        yield d


def exports(demo, since: int) -> list[dict]:
    return demo.sandbox.requests(endpoint=EXPORT, since_id=since)


def last_request(demo) -> int:
    requests = demo.sandbox.requests()
    return requests[-1]["id"] if requests else 0


@pytest.mark.parametrize("kind, params", [("rate_limit", {"retry_after": 1}), ("server_error", {"status": 503}),
                                          ("malformed", {})])
def test_a_fault_answered_once_is_retried_and_the_report_is_complete(demo, kind, params):
    demo.run(SYNC)
    before = last_request(demo)
    demo.sandbox.add_fault(EXPORT, kind, times=1, **params)

    report = reconcile(demo.workspace, SYNC)

    assert len(exports(demo, before)) == 2  # the faulty answer, then the whole one
    assert report.status == "complete" and report.partial_reason is None
    assert report.clean and report.funnel.present == len(demo.snapshot())


def test_a_server_error_that_outlasts_the_retries_leaves_a_partial_report_that_claims_nothing_missing(demo):
    demo.run(SYNC)
    demo.sandbox.add_fault(EXPORT, "server_error", status=500)

    report = reconcile(demo.workspace, SYNC)

    assert report.status == "partial" and not report.clean
    assert "failed 2 times, the last with HTTP 500" in report.partial_reason
    assert report.missing == [] and report.missing_rows == 0  # absent from a partial read is not missing
    assert report.not_found_confirmed is None
    assert any("not in the partial read" in n for n in report.notes)
    with StateStore(demo.workspace.state_path) as store:
        [record] = store.reconciliations(SYNC)
    assert record.status == "partial"


def test_an_export_cut_off_mid_line_compares_the_whole_lines_and_says_it_is_partial(demo):
    demo.run(SYNC)
    demo.sandbox.add_fault(EXPORT, "malformed")  # every answer: half the body, its last line cut

    report = reconcile(demo.workspace, SYNC)

    assert report.status == "partial"
    assert "cut off in the middle of a line" in report.partial_reason
    synced = len(demo.snapshot())
    assert 0 < report.funnel.present < synced  # the lines before the cut were read and compared
    assert report.differing_rows == 0 and report.missing_rows == 0


def test_a_reconciliation_started_while_one_runs_is_refused_and_the_first_finishes(demo):
    demo.run(SYNC)
    demo.sandbox.add_fault(EXPORT, "hold", times=1)  # the first one's read waits in the sandbox
    first: dict = {}
    thread = threading.Thread(target=lambda: first.setdefault("report", reconcile(demo.workspace, SYNC)))
    thread.start()
    try:
        assert demo.server.wait_for_held(1, timeout=60), "the first reconciliation never read"
        with pytest.raises(ReconcileError, match="reconciliation 1 of this sync is running"):
            reconcile(demo.workspace, SYNC)
    finally:
        demo.server.release_held(drop=False)
        thread.join(timeout=120)
    assert first["report"].status == "complete"
    with StateStore(demo.workspace.state_path) as store:
        assert [r.status for r in store.reconciliations(SYNC)] == ["complete"]


def test_its_read_shares_the_credentials_export_limit_so_a_run_waits_instead_of_meeting_a_429(tmp_path):
    clock = ManualClock()  # the sandbox's and the client's: it stands still, so the exports are one instant
    with demo_workspace(tmp_path, clock=clock) as demo:  # Iterable's limits: 4 exports a minute
        demo.run(SYNC)
        for _ in range(3):
            reconcile(demo.workspace, SYNC, clock=clock)
        record = demo.run(SYNC)  # the fifth export: it waits on the client's side for a slot
        exports = demo.sandbox.requests(endpoint=EXPORT)
    assert record.status in ("success", "warning"), record.error
    assert [r["status"] for r in exports] == [200] * 5  # nobody met a 429
    assert exports[4]["at"] - exports[0]["at"] >= 60
