"""Reading Marketo activities back meets Marketo's errors, answered with HTTP 200 in its envelope: a page that fails
is retried alone; one that stays failed (606), or the daily quota (607, or the budget the read was given), ends
the read as partial, never complete, and nothing is called missing. The read's calls are counted in the instance's
shared limits: a quota that would not allow the read refuses it before anything is read, and a run after many
reconciliations waits for the rate limit instead of meeting a 606. The clock is the sandbox's and the client's,
standing still, so Marketo's 20-second waits take no time."""

from __future__ import annotations

import pytest

from demo_helpers import demo_workspace
from sync_core import StateStore
from sync_core.demo.workspace import MARKETO_INSTANCE
from sync_core.errors import DestinationUnavailable
from sync_core.reconcile import reconcile
from sync_core.sandbox import ManualClock, MarketoState

SYNC = "marketo-activities"
SECRET = 'client_secret = "secrets:sandbox.marketo_client_secret"\n'
PAGES = "activities"  # the sandbox's endpoint names
PER_PAGE = 300  # activities a page scans


class MarketoDemo:
    """The demo, its Marketo sync run once, and its Marketo sandbox's own state and request log."""

    def __init__(self, demo, clock: ManualClock):
        self.demo, self.clock = demo, clock
        self.state = MarketoState(demo.root / "sandbox" / "marketo.sqlite")
        self.synced = demo.run(SYNC).counts.outcome("synced")

    def reconcile(self):
        return reconcile(self.demo.workspace, SYNC, clock=self.clock)

    def last_request(self) -> int:
        requests = self.state.requests()
        return requests[-1]["id"] if requests else 0

    def requests(self, since: int, endpoint: str | None = None) -> list[dict]:
        return self.state.requests(endpoint=endpoint, since_id=since)

    def calls_today(self) -> int:
        return self.state.daily_calls(MARKETO_INSTANCE, self.clock.now())

    def records(self):
        with StateStore(self.demo.workspace.state_path) as store:
            return store.reconciliations(SYNC)


@pytest.fixture
def marketo(tmp_path):
    clock = ManualClock()
    with demo_workspace(tmp_path, marketo=True, clock=clock) as demo:
        demo.edit_workspace(SECRET, SECRET + "max_attempts = 2\n")
        m = MarketoDemo(demo, clock)
        try:
            yield m
        finally:
            m.state.close()


def test_a_page_answered_606_once_is_retried_alone_and_the_report_is_complete(marketo):
    pages = -(-marketo.synced // PER_PAGE)
    assert pages >= 2
    before = marketo.last_request()
    marketo.state.add_fault(PAGES, "error_code", code="606", after=1, times=1)  # the second page, once

    report = marketo.reconcile()

    assert report.status == "complete" and report.clean, report.lines()
    read = marketo.requests(before, PAGES)
    assert [r["code"] for r in read].count("606") == 1
    assert len(read) == pages + 1  # each page once, the second twice: the first page was not read again
    assert report.funnel.present == marketo.synced


def test_a_606_that_outlasts_the_retries_leaves_a_partial_report_that_claims_nothing_missing(marketo):
    before = marketo.last_request()
    marketo.state.add_fault(PAGES, "error_code", code="606", after=1)  # every page after the first

    report = marketo.reconcile()

    assert report.status == "partial" and not report.clean
    assert "failed 2 times at page 2, the last with 606" in report.partial_reason
    assert report.missing == [] and report.missing_rows == 0
    assert report.funnel.present == report.funnel.destination_records == PER_PAGE  # the first page, compared
    assert report.differing_rows == 0
    assert any("synced rows were not in the partial read" in n for n in report.notes)
    assert len(marketo.requests(before, PAGES)) == 3  # page 1, page 2 twice; never page 1 again
    assert [r.status for r in marketo.records()] == ["partial"]


def test_the_daily_quota_used_up_mid_read_stops_it_as_partial_at_once(marketo):
    before = marketo.last_request()
    marketo.state.add_fault(PAGES, "quota_reached", after=1)

    report = marketo.reconcile()

    assert report.status == "partial"
    assert "the daily quota stopped reading activities back at page 2" in report.partial_reason
    assert "607" in report.partial_reason
    assert report.missing_rows == 0 and report.funnel.present == PER_PAGE
    assert [r["code"] for r in marketo.requests(before, PAGES)] == ["Success", "607"]  # 607 is not retried


def quota_leaving(marketo, calls: int) -> None:
    """Configure the instance's daily quota (no reserve) so that a reconciliation's read is left `calls` once it
    has checked the type and read the usage (2 calls), and kept what the sync's next run needs."""
    for_the_sync = 2 * -(-marketo.synced // 300)
    quota = marketo.calls_today() + 2 + for_the_sync + calls
    marketo.demo.edit_workspace(SECRET, SECRET + f"daily_quota = {quota}\ndaily_quota_reserve = 0\n")


def test_a_quota_that_would_not_allow_the_read_refuses_it_before_reading_and_says_so(marketo):
    pages = -(-marketo.synced // PER_PAGE)
    quota_leaving(marketo, pages)  # one short: the paging token and each page
    before = marketo.last_request()

    with pytest.raises(DestinationUnavailable, match=f"reading its {marketo.synced:,} activities back takes at "
                                                     f"least {pages + 1}, so nothing was read"):
        marketo.reconcile()

    assert {r["endpoint"] for r in marketo.requests(before)} <= {"activities/external/types", "stats/usage",
                                                                 "identity/oauth/token"}
    [record] = marketo.records()
    assert record.status == "failed" and "kept for the sync's next run" in record.error
    assert "midnight US Central" in record.error


def test_a_read_that_spends_its_budget_stops_as_partial_within_the_quota(marketo):
    pages = -(-marketo.synced // PER_PAGE)
    kind = marketo.state.add_activity_type(MARKETO_INSTANCE, "otherIntegration_c", attributes=["x"])
    [lead] = marketo.state.add_leads(MARKETO_INSTANCE, ["someone@else.example"])
    other = {"leadId": lead, "activityTypeId": kind, "activityDate": "2026-01-01T00:00:00Z",
             "primaryAttributeValue": "x", "attributes": []}
    marketo.state.add_activities(MARKETO_INSTANCE, [other] * PER_PAGE, now=marketo.clock.now())  # one page more
    quota_leaving(marketo, pages + 1)  # enough for the snapshot's pages, not for the other type's
    before = marketo.calls_today()

    report = marketo.reconcile()

    assert report.status == "partial"
    assert f"the daily quota stopped reading activities back at page {pages + 1}" in report.partial_reason
    assert report.missing_rows == 0
    assert marketo.calls_today() == before + 2 + pages + 1  # what it was given, no more: the sync's share is left
    assert any(f"{pages + 1} REST calls of the daily quota, of the {pages + 1} it left this read" in n
               for n in report.notes)


def test_a_run_after_many_reconciliations_waits_for_the_shared_rate_limit_instead_of_meeting_a_606(marketo):
    before = marketo.last_request()
    for _ in range(14):  # about 6 calls each: past the 80 of 100 per 20 s the workspace leaves itself
        assert marketo.reconcile().clean
    record = marketo.demo.run(SYNC)

    assert record.status in ("healthy", "warning"), record.error
    calls = [r for r in marketo.requests(before) if r["endpoint"] != "identity/oauth/token"]
    assert "606" not in {r["code"] for r in calls}  # nobody met the instance's limit
    assert calls[-1]["at"] - calls[0]["at"] >= 20  # the later calls waited for the next window
