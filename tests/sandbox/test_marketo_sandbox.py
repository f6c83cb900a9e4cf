"""The Marketo sandbox over real HTTP: OAuth tokens, lead look-up, activity types, adding custom activities with
one result per input, reading them back by paging token, the HTTP-200 error envelope, the limits and the faults."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import requests

from sync_core.sandbox import ManualClock, MarketoApi, MarketoSandbox
from sync_core.sandbox.marketo.faults import ENDPOINTS
from sync_core.marketo_day import marketo_day, next_reset
from sync_core.sandbox.serve import main

INSTANCE, CLIENT_ID, CLIENT_SECRET = "123-ABC-456", "client-1", "secret-1"
START = 1_700_000_000.0  # 2023-11-14 16:13:20 US Central


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def server(tmp_path, clock):
    with MarketoSandbox(tmp_path / "marketo.db", clock=clock) as running:
        running.state.add_instance(INSTANCE, CLIENT_ID, CLIENT_SECRET)
        yield running


class Marketo:
    """A bare client of the sandbox: a token, and the calls the tests make."""

    def __init__(self, server) -> None:
        self.url, self.http = server.url, requests.Session()
        self.token = self.new_token().json()["access_token"]

    def new_token(self, client_secret: str = CLIENT_SECRET) -> requests.Response:
        return self.http.get(f"{self.url}/identity/oauth/token", params={
            "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": client_secret})

    def get(self, path: str, **params) -> dict:
        answer = self.http.get(f"{self.url}/rest/v1/{path}", params=params,
                               headers={"Authorization": f"Bearer {self.token}"})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def add(self, inputs: list[dict]) -> dict:
        answer = self.http.post(f"{self.url}/rest/v1/activities/external.json", json={"input": inputs},
                                headers={"Authorization": f"Bearer {self.token}"})
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture
def marketo(server):
    client = Marketo(server)
    yield client
    client.http.close()


def activity(lead_id: int, type_id: int, **fields) -> dict:
    return {"leadId": lead_id, "activityTypeId": type_id, "activityDate": "2026-12-01T09:30:00+01:00",
            "primaryAttributeValue": "ns-1", "attributes": [{"apiName": "plan", "value": "pro"}], **fields}


def error_code(body: dict) -> str:
    assert body["success"] is False
    return body["errors"][0]["code"]


# --- identity -------------------------------------------------------------------------


def test_token_is_reused_until_it_expires_then_the_old_one_answers_602(server, marketo, clock):
    first = marketo.new_token().json()
    clock.advance(600)
    again = marketo.new_token().json()
    assert first["token_type"] == "bearer" and first["expires_in"] == 3599
    assert again["access_token"] == first["access_token"] and again["expires_in"] == 2999

    clock.advance(3000)
    assert error_code(marketo.get("activities/external/types.json")) == "602"
    marketo.token = marketo.new_token().json()["access_token"]
    assert marketo.token != first["access_token"]
    assert marketo.get("activities/external/types.json")["success"] is True


def test_bad_client_secret_is_http_401_and_an_unknown_token_is_601_with_http_200(server, marketo):
    refused = marketo.new_token(client_secret="wrong")
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    marketo.token = "not-a-token"
    assert error_code(marketo.get("leads.json", filterType="email", filterValues="a@x.com")) == "601"


# --- leads and activity types ----------------------------------------------------------


def test_leads_are_looked_up_by_email_in_any_case_and_an_email_may_name_two(server, marketo):
    ada, _, twin_1, twin_2 = server.state.add_leads(INSTANCE, ["ada@x.com", "bob@x.com", "twin@x.com", "twin@x.com"])
    found = marketo.get("leads.json", filterType="email", filterValues="ADA@x.com,twin@x.com,nobody@x.com",
                        fields="id,email")
    assert found["result"] == [{"id": ada, "email": "ada@x.com"}, {"id": twin_1, "email": "twin@x.com"},
                               {"id": twin_2, "email": "twin@x.com"}]
    assert marketo.get("leads.json", filterType="email", filterValues="nobody@x.com")["result"] == []
    too_many = ",".join(f"p{i}@x.com" for i in range(301))
    assert error_code(marketo.get("leads.json", filterType="email", filterValues=too_many)) == "1003"

    # 300 long emails pass Marketo's 8 KB URL limit: the same look-up goes as POST ?_method=GET with a form body
    by_post = marketo.http.post(f"{server.url}/rest/v1/leads.json", params={"_method": "GET"},
                                data={"filterType": "email", "filterValues": "ada@x.com,twin@x.com"},
                                headers={"Authorization": f"Bearer {marketo.token}"}).json()
    assert [lead["id"] for lead in by_post["result"]] == [ada, twin_1, twin_2]
    created = marketo.http.post(f"{server.url}/rest/v1/leads.json", json={"input": [{"email": "new@x.com"}]},
                                headers={"Authorization": f"Bearer {marketo.token}"}).json()
    assert error_code(created) == "1003"  # creating leads is not a sync's business, nor this sandbox's


def test_activity_types_describe_status_primary_attribute_and_attributes(server, marketo):
    type_id = server.state.add_activity_type(INSTANCE, "namespaceCreated_c", primary_attribute="namespace",
                                             attributes=["plan", "region"])
    server.state.add_activity_type(INSTANCE, "draftType_c", status="draft")
    described = marketo.get("activities/external/types.json")["result"]
    assert [(t["id"], t["apiName"], t["status"]) for t in described][0] == (type_id, "namespaceCreated_c", "approved")
    assert described[0]["primaryAttribute"]["apiName"] == "namespace"
    assert [a["apiName"] for a in described[0]["attributes"]] == ["plan", "region"]
    assert described[1]["status"] == "draft"


# --- adding activities -----------------------------------------------------------------


def test_each_input_gets_its_result_in_order_and_only_valid_ones_are_stored(server, marketo):
    lead, _ = server.state.add_leads(INSTANCE, ["ada@x.com", "bob@x.com"])
    type_id = server.state.add_activity_type(INSTANCE, "namespaceCreated_c", attributes=["plan"])
    draft_id = server.state.add_activity_type(INSTANCE, "draft_c", attributes=["plan"], status="draft")
    inputs = [
        activity(lead, type_id),
        activity(999_999, type_id),  # no such lead
        activity(lead, type_id, attributes=[{"apiName": "colour", "value": "red"}]),
        activity(lead, 424242),  # no such type
        activity(lead, draft_id),
        activity(lead, type_id, activityDate="01/12/2026 09:30"),
        activity(lead, type_id, activityDate="2026-12-01T09:30:00"),  # no time zone
        activity(lead, type_id, attributes=[{"apiName": "plan", "value": "x" * 65_536}]),
        activity(lead, type_id, attributes=[{"apiName": "plan", "value": str(i)} for i in range(21)]),
        activity(lead, type_id, primaryAttributeValue=""),
        activity(lead, type_id, primaryAttributeValue="ns-2"),
    ]
    results = marketo.add(inputs)["result"]

    codes = [r["errors"][0]["code"] if r["status"] == "skipped" else r["status"] for r in results]
    assert codes == ["added", "1004", "1006", "1013", "1003", "1001", "1001", "1049", "1028", "1002", "added"]
    stored = server.state.activities(INSTANCE)
    assert [a["marketoGUID"] for a in stored] == [results[0]["marketoGUID"], results[-1]["marketoGUID"]]
    assert stored[0]["activityDate"] == "2026-12-01T08:30:00Z"  # kept in UTC
    assert stored[1]["primaryAttributeValue"] == "ns-2"
    logged = server.state.requests(endpoint="activities/external")[0]
    assert logged["items"] == 11 and logged["stored"] == [a["marketoGUID"] for a in stored]


def test_requests_marketo_refuses_whole(server, marketo):
    lead = server.state.add_leads(INSTANCE, ["ada@x.com"])[0]
    type_id = server.state.add_activity_type(INSTANCE, "namespaceCreated_c", attributes=["plan"])
    auth = {"Authorization": f"Bearer {marketo.token}"}
    url = f"{server.url}/rest/v1/activities/external.json"
    assert error_code(marketo.add([activity(lead, type_id)] * 301)) == "1003"
    assert error_code(marketo.http.post(url, data=b"{not json", headers={
        **auth, "Content-Type": "application/json"}).json()) == "609"
    assert error_code(marketo.http.post(url, data=b"{}", headers={**auth, "Content-Type": "text/plain"}).json()) \
        == "612"
    huge = [activity(lead, type_id, attributes=[{"apiName": "plan", "value": "x" * 60_000}])] * 20
    assert marketo.http.post(url, json={"input": huge}, headers=auth).status_code == 413
    assert server.state.activities(INSTANCE) == []


# --- reading back ----------------------------------------------------------------------


def test_read_back_pages_through_empty_pages_while_more_result_is_true(server, marketo, clock):
    leads = server.state.add_leads(INSTANCE, [f"p{i}@x.com" for i in range(300)])
    other = server.state.add_activity_type(INSTANCE, "other_c", attributes=["plan"])
    wanted = server.state.add_activity_type(INSTANCE, "namespaceCreated_c", attributes=["plan"])
    before = marketo.get("activities/pagingtoken.json", sinceDatetime="2023-11-14T00:00:00Z")["nextPageToken"]
    for _ in range(3):  # 900 activities of another type come first
        marketo.add([activity(lead, other) for lead in leads])
    sent = marketo.add([activity(lead, wanted, primaryAttributeValue=f"ns-{lead}") for lead in leads[:5]])

    pages, token, more = [], before, True
    while more:
        page = marketo.get("activities.json", nextPageToken=token, activityTypeIds=str(wanted))
        pages.append(page.get("result", []))
        token, more = page["nextPageToken"], page["moreResult"]
    assert [len(page) for page in pages] == [0, 0, 0, 5]
    assert [a["marketoGUID"] for a in pages[-1]] == [r["marketoGUID"] for r in sent["result"]]
    assert pages[-1][0]["primaryAttributeValue"] == f"ns-{leads[0]}"
    assert pages[-1][0]["attributes"] == [{"name": "plan", "value": "pro"}]

    by_lead = marketo.get("activities.json", nextPageToken=before, activityTypeIds=f"{other},{wanted}",
                          leadIds=str(leads[1]))
    assert [a["leadId"] for a in by_lead["result"]] == [leads[1]] and by_lead["moreResult"] is True
    later = marketo.get("activities/pagingtoken.json", sinceDatetime="2023-11-15T00:00:00Z")["nextPageToken"]
    none_since = marketo.get("activities.json", nextPageToken=later, activityTypeIds=str(wanted))
    assert "result" not in none_since and none_since["moreResult"] is False


# --- limits ----------------------------------------------------------------------------


def test_101st_call_in_20_seconds_answers_606_then_the_window_moves_on(server, marketo, clock):
    codes = [marketo.get("activities/external/types.json").get("errors", [{"code": "ok"}])[0]["code"]
             for _ in range(101)]
    assert codes == ["ok"] * 100 + ["606"]
    clock.advance(20)
    assert marketo.get("activities/external/types.json")["success"] is True


def test_daily_quota_answers_607_naming_the_reset_until_midnight_us_central(server, marketo, clock):
    server.state.set_daily_quota(INSTANCE, 3)
    answers = [marketo.get("stats/usage.json") for _ in range(4)]
    assert [a["success"] for a in answers] == [True, True, True, False]
    assert answers[2]["result"] == [{"date": "2023-11-14", "total": 3}]
    assert error_code(answers[3]) == "607"
    assert "2023-11-15T00:00:00-06:00" in answers[3]["errors"][0]["message"]

    clock.advance(next_reset(START) - START)
    assert marketo_day(clock.now()) == "2023-11-15"
    marketo.token = marketo.new_token().json()["access_token"]  # the old one expired meanwhile
    assert marketo.get("stats/usage.json")["result"] == [{"date": "2023-11-15", "total": 1}]


def test_an_eleventh_call_in_flight_answers_615(server, marketo):
    server.state.add_fault("activities/external/types", "hold", times=10)
    answers: list[dict] = []
    threads = [threading.Thread(target=lambda: answers.append(marketo_in_thread(server, marketo.token)))
               for _ in range(10)]
    for thread in threads:
        thread.start()
    try:
        assert server.wait_for_held(10, timeout=30)
        assert error_code(marketo.get("leads.json", filterType="email", filterValues="a@x.com")) == "615"
    finally:
        server.release_held(drop=False)
        for thread in threads:
            thread.join(timeout=30)
    assert [a["success"] for a in answers] == [True] * 10
    assert marketo.get("leads.json", filterType="email", filterValues="a@x.com")["success"] is True


def marketo_in_thread(server, token: str) -> dict:
    with requests.Session() as http:
        return http.get(f"{server.url}/rest/v1/activities/external/types.json",
                        headers={"Authorization": f"Bearer {token}"}).json()


# --- faults ----------------------------------------------------------------------------


def test_expired_token_fault_answers_602_and_the_next_token_call_gives_a_new_one(server, marketo):
    server.state.add_fault("activities/external/types", "expired_token", times=1)
    assert error_code(marketo.get("activities/external/types.json")) == "602"
    fresh = marketo.new_token().json()
    assert fresh["access_token"] != marketo.token and fresh["expires_in"] == 3599
    marketo.token = fresh["access_token"]
    assert marketo.get("activities/external/types.json")["success"] is True
    assert server.state.tokens_issued(INSTANCE) == 2


def test_quota_reached_fault_uses_up_the_day_and_the_next_day_answers_again(server, marketo, clock):
    server.state.add_fault("leads", "quota_reached", times=1)
    assert error_code(marketo.get("leads.json", filterType="email", filterValues="a@x.com")) == "607"
    assert error_code(marketo.get("activities/external/types.json")) == "607"  # the whole instance, all day
    clock.advance(next_reset(START) - START)
    marketo.token = marketo.new_token().json()["access_token"]
    assert marketo.get("activities/external/types.json")["success"] is True


@pytest.mark.parametrize("kind, params, code", [
    ("concurrent_limit", {}, "615"), ("error_code", {"code": "713"}, "713"), ("error_code", {"code": "604"}, "604"),
    ("rate_limit", {}, "606"),
])
def test_fault_kinds_answer_in_marketos_envelope_with_http_200(server, marketo, kind, params, code):
    server.state.add_fault("*", kind, times=1, **params)
    assert error_code(marketo.get("activities/external/types.json")) == code
    assert marketo.get("activities/external/types.json")["success"] is True
    assert [r["fault"] for r in server.state.requests(endpoint="activities/external/types")] == [kind, None]


def test_fault_endpoints_are_the_routes():
    assert ENDPOINTS == {route.endpoint for route in MarketoApi.ROUTES}


def test_serve_command_prepares_an_instance_from_client_id_and_secret(tmp_path, capsys):
    state = tmp_path / "marketo.db"
    assert main(["--vendor", "marketo", "--state", str(state), "--project", INSTANCE, "--api-key",
                 f"{CLIENT_ID}:{CLIENT_SECRET}", "--fault", "leads:error_code:code=608,times=1", "--no-serve"]) == 0
    assert "leads error_code" in capsys.readouterr().out
    with MarketoSandbox(state) as running:
        assert running.state.instance_for_credentials(CLIENT_ID, CLIENT_SECRET) == INSTANCE
        assert CLIENT_SECRET not in str(running.state.faults())
    with pytest.raises(ValueError, match="CLIENT_ID:CLIENT_SECRET"):
        MarketoSandbox(state).state.add_project(INSTANCE, "no-colon")


def test_marketo_day_turns_at_midnight_us_central_summer_and_winter():
    winter = dt.datetime(2026, 1, 15, 5, 59, tzinfo=dt.timezone.utc).timestamp()  # 23:59 CST
    summer = dt.datetime(2026, 7, 15, 4, 59, tzinfo=dt.timezone.utc).timestamp()  # 23:59 CDT
    assert (marketo_day(winter), marketo_day(winter + 60)) == ("2026-01-14", "2026-01-15")
    assert (marketo_day(summer), marketo_day(summer + 60)) == ("2026-07-14", "2026-07-15")
    assert next_reset(winter) == winter + 60
