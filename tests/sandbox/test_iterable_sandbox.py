"""The Iterable sandbox over real HTTP on loopback, with a manual clock for rate limits."""

from __future__ import annotations

import json

import pytest
import requests

from sync_core.sandbox import ManualClock, IterableSandbox, IterableState, ScaledClock
from sync_core.sandbox.serve import main

from sandbox_fixtures import API_KEY, PROJECT, START, clock, http, server, state_path  # noqa: F401


def bulk_update(server, http, users, **options) -> requests.Response:
    return http.post(f"{server.url}/api/users/bulkUpdate", json={"users": users, **options})


def get_by_email(server, http, email) -> requests.Response:
    return http.get(f"{server.url}/api/users/getByEmail", params={"email": email})


# --- auth, routing, admin -------------------------------------------------------------


@pytest.mark.parametrize("headers", [{"Api-Key": "wrong"}, {}])
def test_bad_or_missing_key_is_401_and_logged(server, headers):
    response = requests.post(f"{server.url}/api/users/bulkUpdate", json={"users": []},
                             headers=headers)

    assert response.status_code == 401
    assert response.json() == {"msg": "Invalid API key", "code": "BadApiKey", "params": None}
    [logged] = server.state.requests()
    assert (logged["project"], logged["endpoint"], logged["status"], logged["code"]) == (
        None, "users/bulkUpdate", 401, "BadApiKey")


def test_unknown_path_is_404_not_found(server, http):
    response = http.get(f"{server.url}/api/nothing/here")

    assert response.status_code == 404
    assert response.json()["code"] == "NotFound"
    assert server.state.requests()[-1]["endpoint"] == "unknown"


def test_health_needs_no_key_and_is_not_logged(server):
    assert requests.get(f"{server.url}/_sandbox/health").json() == {"ok": True}
    assert server.state.last_request_id() == 0


# --- bulkUpdate -----------------------------------------------------------------------


def test_bulk_update_creates_unknown_users(server, http):
    response = bulk_update(server, http, [
        {"email": "Ada@Example.com", "dataFields": {"plan": "pro", "seats": 3}},
        {"userId": "u-2", "dataFields": {"plan": "free"}},
    ])

    assert response.status_code == 200
    body = response.json()
    assert body["successCount"] == 2 and body["failCount"] == 0
    assert body["createdFields"] == ["plan", "seats"]
    assert body["filteredOutFields"] == [] and body["invalidEmails"] == []
    assert all(failed == [] for failed in body["failedUpdates"].values())
    assert len(body["failedUpdates"]) == 10
    ada = server.state.get_user(PROJECT, email="ada@EXAMPLE.com")
    assert ada["email"] == "ada@example.com"
    assert ada["dataFields"] == {"plan": "pro", "seats": 3}
    assert ada["createdBy"] == "api" and ada["createdAt"] == START
    assert server.state.get_user(PROJECT, user_id="u-2")["dataFields"] == {"plan": "free"}


def test_update_only_reports_not_found_and_creates_nothing(server, http):
    server.state.upsert_users(PROJECT, [{"email": "known@example.com", "dataFields": {}}])

    body = bulk_update(server, http, [
        {"email": "known@example.com", "dataFields": {"plan": "pro"}},
        {"email": "ghost@example.com", "dataFields": {"plan": "pro"}},
        {"userId": "ghost-id", "dataFields": {"plan": "pro"}},
    ], updateOnly=True).json()

    assert body["successCount"] == 1 and body["failCount"] == 2
    assert body["failedUpdates"]["notFoundEmails"] == ["ghost@example.com"]
    assert body["failedUpdates"]["notFoundUserIds"] == ["ghost-id"]
    assert server.state.user_count(PROJECT) == 1
    assert server.state.get_user(PROJECT, email="known@example.com")["dataFields"] == {
        "plan": "pro"}


def test_invalid_identifiers_fail_without_being_stored(server, http):
    body = bulk_update(server, http, [
        {"email": "not-an-email", "dataFields": {}},
        {"email": "two words@example.com", "dataFields": {}},
        {"userId": "", "dataFields": {}},
        {"userId": "x" * 513, "dataFields": {}},
        {"dataFields": {"orphan": True}},
        {"email": "fine@example.com", "dataFields": {}},
    ]).json()

    assert body["successCount"] == 1 and body["failCount"] == 5
    assert body["failedUpdates"]["invalidEmails"] == ["not-an-email", "two words@example.com"]
    assert body["invalidEmails"] == body["failedUpdates"]["invalidEmails"]
    assert body["failedUpdates"]["invalidUserIds"] == ["", "x" * 513]
    assert body["invalidUserIds"] == body["failedUpdates"]["invalidUserIds"]
    assert server.state.user_count(PROJECT) == 1


def test_type_mismatch_refuses_the_whole_user(server, http):
    bulk_update(server, http, [{"email": "a@example.com", "dataFields": {"seats": 3}}])

    body = bulk_update(server, http, [
        {"email": "a@example.com", "dataFields": {"seats": "three", "plan": "pro"}},
        {"userId": "u-1", "dataFields": {"seats": True}},
        {"email": "b@example.com", "dataFields": {"seats": None}},
    ]).json()

    assert body["failedUpdates"]["invalidDataEmails"] == ["a@example.com"]
    assert body["failedUpdates"]["invalidDataUserIds"] == ["u-1"]
    assert body["successCount"] == 1  # null fits any type
    assert server.state.get_user(PROJECT, email="a@example.com")["dataFields"] == {"seats": 3}
    assert server.state.get_user(PROJECT, user_id="u-1") is None


def test_merge_semantics(server, http):
    bulk_update(server, http, [{"email": "a@example.com", "dataFields": {
        "plan": "pro", "seats": 3, "address": {"city": "Oslo", "zip": "0150"}}}])
    clock_later = server.clock.now() + 60
    server.clock.advance(60)

    body = bulk_update(server, http, [
        {"email": "A@example.com", "userId": "u-a",
         "dataFields": {"seats": None, "address": {"city": "Bergen"}, "tier": "gold"}},
    ]).json()

    assert body["successCount"] == 1 and body["createdFields"] == ["tier"]
    user = server.state.get_user(PROJECT, user_id="u-a")
    assert user["email"] == "a@example.com"  # userId given to the email-identified user
    assert user["dataFields"] == {
        "plan": "pro", "seats": None, "address": {"city": "Bergen"}, "tier": "gold"}
    assert user["profileUpdatedAt"] == clock_later and user["createdAt"] == START

    bulk_update(server, http, [{"email": "a@example.com", "mergeNestedObjects": True,
                                "dataFields": {"address": {"zip": "5003"}}}])
    assert server.state.get_user(PROJECT, email="a@example.com")["dataFields"]["address"] == {
        "city": "Bergen", "zip": "5003"}


def test_user_id_held_by_another_user_is_a_conflict(server, http):
    server.state.upsert_users(PROJECT, [{"email": "owner@example.com", "userId": "u-1"}])

    body = bulk_update(server, http, [{"email": "other@example.com", "userId": "u-1"}]).json()

    assert body["failedUpdates"]["conflictEmails"] == ["other@example.com"]
    assert server.state.get_user(PROJECT, email="other@example.com") is None


def test_create_new_fields_false_filters_unknown_fields(server, http):
    bulk_update(server, http, [{"email": "a@example.com", "dataFields": {"plan": "pro"}}])

    body = bulk_update(server, http, [{"email": "a@example.com",
                                       "dataFields": {"plan": "free", "brandNew": 1}}],
                       createNewFields=False).json()

    assert body["filteredOutFields"] == ["brandNew"] and body["createdFields"] == []
    assert server.state.get_user(PROJECT, email="a@example.com")["dataFields"] == {
        "plan": "free"}


def test_body_over_4_mb_is_batch_too_large(server, http):
    padding = "x" * (4 * 1024 * 1024)
    response = bulk_update(server, http, [{"email": "a@example.com",
                                           "dataFields": {"pad": padding}}])

    assert response.status_code == 400
    assert response.json()["code"] == "BatchTooLarge"
    assert server.state.user_count(PROJECT) == 0


def test_bad_json_and_bad_params(server, http):
    url = f"{server.url}/api/users/bulkUpdate"
    assert http.post(url, data=b"{nope").json()["code"] == "BadJsonBody"
    assert http.post(url, json={"users": "a@example.com"}).json()["code"] == "BadParams"


def test_thousand_users_in_one_request_are_all_stored(server, http):
    # Its speed is measured by bench/sync_benchmark.py, not here: a timed test fails on a busy machine.
    users = [{"email": f"user{i}@example.com", "dataFields": {"n": i, "plan": "pro"}}
             for i in range(1000)]

    body = bulk_update(server, http, users).json()

    assert body["successCount"] == 1000
    assert server.state.user_count(PROJECT) == 1000


# --- reads ----------------------------------------------------------------------------


def test_get_by_email_known_and_unknown(server, http):
    server.state.upsert_users(PROJECT, [
        {"email": "ada@example.com", "userId": "u-1", "dataFields": {"plan": "pro"}}], now=START)

    known = get_by_email(server, http, "ADA@example.com")
    unknown = get_by_email(server, http, "nobody@example.com")
    by_path = http.get(f"{server.url}/api/users/ada%40example.com")

    expected = {"user": {"email": "ada@example.com", "userId": "u-1",
                         "dataFields": {"plan": "pro"},
                         "profileUpdatedAt": "2023-11-14 22:13:20 +00:00"}}
    assert (known.status_code, known.json()) == (200, expected)
    assert (unknown.status_code, unknown.json()) == (200, {})
    assert by_path.json() == expected
    assert [entry["endpoint"] for entry in server.state.requests()] == [
        "users/getByEmail", "users/getByEmail", "users/get"]


def test_get_by_user_id(server, http):
    server.state.upsert_users(PROJECT, [{"userId": "id/with slash", "dataFields": {"n": 1}}])

    found = http.get(f"{server.url}/api/users/byUserId/id%2Fwith%20slash").json()
    missing = http.get(f"{server.url}/api/users/byUserId/nobody").json()

    assert found["user"]["userId"] == "id/with slash"
    assert "email" not in found["user"] and found["user"]["dataFields"] == {"n": 1}
    assert missing == {}


def test_export_streams_one_line_per_user_with_only_fields(server, http):
    server.state.upsert_users(PROJECT, [
        {"email": f"u{i}@example.com", "userId": f"id-{i}", "dataFields": {"plan": "pro", "n": i}}
        for i in range(3)])

    response = http.get(f"{server.url}/api/export/data.json", params={
        "dataTypeName": "user", "range": "All", "onlyFields": ["email", "n"]})

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-json-stream"
    assert response.headers["Transfer-Encoding"] == "chunked"
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert lines == [{"email": f"u{i}@example.com", "n": i} for i in range(3)]
    assert server.state.requests()[-1]["endpoint"] == "export/data.json"


def test_export_flattens_data_fields_and_filters_by_date(server, http, clock):
    server.state.upsert_users(PROJECT, [{"email": "old@example.com"}], now=START)
    server.state.upsert_users(PROJECT, [{"email": "new@example.com",
                                         "dataFields": {"plan": "pro", "score": 1}}],
                              now=START + 3600)

    response = http.get(f"{server.url}/api/export/data.json", params={
        "dataTypeName": "user", "startDateTime": "2023-11-14 23:00:00",
        "endDateTime": "2023-11-15 00:00:00", "omitFields": "score"})

    assert [json.loads(line) for line in response.text.splitlines()] == [{
        "email": "new@example.com", "profileUpdatedAt": "2023-11-14 23:13:20 +00:00",
        "plan": "pro"}]


def test_an_export_of_identifiers_has_the_same_lines_as_a_full_one(server, http, clock):
    """Identifier exports take a faster path (lines written by SQLite): their lines must be the same."""
    server.state.upsert_users(PROJECT, [{"email": "a@example.com", "dataFields": {"n": 1}},
                                        {"email": "\u00e9l\u00e8ve\"q@example.com"}], now=START)
    server.state.upsert_users(PROJECT, [{"userId": "u-3"}], now=START + 7200)

    def export(**params) -> list[dict]:
        clock.advance(15)  # Iterable allows 4 exports a minute
        response = http.get(f"{server.url}/api/export/data.json", params={"dataTypeName": "user", **params})
        assert response.status_code == 200
        return [json.loads(line) for line in response.text.splitlines()]

    every = export(range="All")
    for only in (["email"], ["userId"], ["email", "userId", "profileUpdatedAt"], ["profileUpdatedAt", "email"]):
        expected = [{name: line[name] for name in only if name in line} for line in every]
        assert export(range="All", onlyFields=only) == expected
    assert export(range="All", onlyFields=["email", "userId"], omitFields="email") == [{}, {}, {"userId": "u-3"}]
    assert export(startDateTime="2023-11-15 00:00:00", endDateTime="2023-11-16 00:00:00",
                  onlyFields=["userId"]) == [{"userId": "u-3"}]


def test_export_rejects_other_data_types(server, http):
    response = http.get(f"{server.url}/api/export/data.json",
                        params={"dataTypeName": "emailSend", "range": "All"})
    assert (response.status_code, response.json()["code"]) == (400, "BadParams")


# --- rate limits ----------------------------------------------------------------------


def test_sixth_bulk_update_in_one_second_is_429_until_the_clock_moves(server, http, clock):
    for _ in range(5):
        assert bulk_update(server, http, []).status_code == 200

    limited = bulk_update(server, http, [])
    clock.advance(1)
    allowed_again = bulk_update(server, http, [])

    assert limited.status_code == 429
    assert limited.json() == {"msg": "Rate limit exceeded", "code": "RateLimitExceeded",
                              "params": None}
    assert limited.headers["Retry-After"] == "1"
    assert allowed_again.status_code == 200
    assert [entry["status"] for entry in server.state.requests()] == [200] * 5 + [429, 200]


def test_export_allows_four_per_minute(server, http, clock):
    url = f"{server.url}/api/export/data.json?dataTypeName=user&range=All"
    statuses = [http.get(url).status_code for _ in range(5)]
    clock.advance(30)
    retry_after = http.get(url).headers["Retry-After"]

    assert statuses == [200] * 4 + [429]
    assert retry_after == "30"


def test_rate_limits_off_globally(state_path, clock, http):
    with IterableSandbox(state_path, clock=clock, rate_limits=False) as server:
        server.state.add_project(PROJECT, API_KEY)
        statuses = {bulk_update(server, http, []).status_code for _ in range(8)}
    assert statuses == {200}


def test_rate_limits_off_per_project(server, http):
    server.state.set_rate_limits(PROJECT, False)
    assert {bulk_update(server, http, []).status_code for _ in range(8)} == {200}


# --- state ----------------------------------------------------------------------------


def test_state_survives_a_restart(state_path, clock, http):
    with IterableSandbox(state_path, clock=clock) as first:
        first.state.add_project(PROJECT, API_KEY)
        bulk_update(first, http, [{"email": "a@example.com", "dataFields": {"n": 1}}])
        http.close()  # drop the keep-alive connection to the old server

    with IterableSandbox(state_path, clock=clock) as second:
        user = get_by_email(second, http, "a@example.com").json()["user"]
        mismatch = bulk_update(second, http, [{"email": "b@example.com",
                                               "dataFields": {"n": "one"}}]).json()
        assert user["dataFields"] == {"n": 1}
        assert mismatch["failedUpdates"]["invalidDataEmails"] == ["b@example.com"]
        assert [entry["endpoint"] for entry in second.state.requests()] == [
            "users/bulkUpdate", "users/getByEmail", "users/bulkUpdate"]


def test_request_log_records_what_a_write_carried(server, http):
    bulk_update(server, http, [
        {"email": "a@example.com", "userId": "u-a", "dataFields": {}},
        {"userId": "u-b", "dataFields": {}},
        {"email": "bad", "dataFields": {}},
    ])

    [logged] = server.state.requests(endpoint="users/bulkUpdate")
    assert logged["project"] == PROJECT and logged["method"] == "POST"
    assert logged["path"] == "/api/users/bulkUpdate" and logged["at"] == START
    assert (logged["status"], logged["code"], logged["items"]) == (200, "Success", 3)
    assert logged["identifiers"] == ["a@example.com", "u-a", "u-b", "bad"]
    assert logged["duration_ms"] >= 0
    assert server.state.last_request_id() == logged["id"]
    assert server.state.requests(since_id=logged["id"]) == []
    stored = server.state.get_user(PROJECT, user_id="u-b")
    assert stored["lastRequestId"] == logged["id"]


def test_another_process_can_write_while_the_server_runs(server, http, state_path):
    other = IterableState(state_path)  # as a demo script would, with its own connection
    try:
        other.upsert_users(PROJECT, [{"email": "demo@example.com", "dataFields": {"n": 1}}])
    finally:
        other.close()

    user = get_by_email(server, http, "demo@example.com").json()["user"]
    assert user["dataFields"] == {"n": 1}
    assert server.state.get_user(PROJECT, email="demo@example.com")["createdBy"] == "product"


def test_upsert_users_is_all_or_nothing(server):
    server.state.upsert_users(PROJECT, [{"email": "a@example.com", "dataFields": {"n": 1}}])

    with pytest.raises(ValueError, match="type_mismatch"):
        server.state.upsert_users(PROJECT, [
            {"email": "b@example.com", "dataFields": {}},
            {"email": "a@example.com", "dataFields": {"n": "one"}},
        ])

    assert server.state.user_count(PROJECT) == 1


def test_delete_user(server):
    server.state.upsert_users(PROJECT, [{"email": "a@example.com"}])
    assert server.state.delete_user(PROJECT, email="A@example.com") is True
    assert server.state.delete_user(PROJECT, email="a@example.com") is False
    assert server.state.users(PROJECT) == []


# --- clocks and CLI -------------------------------------------------------------------


def test_manual_clock_sleep_advances_instantly():
    clock = ManualClock(100.0)
    clock.sleep(5)
    clock.advance(1.5)
    assert clock.now() == 106.5


def test_scaled_clock_runs_faster():
    clock = ScaledClock(1000, start=0.0)
    clock.sleep(20)  # 20 ms of real time
    assert 20 <= clock.now() < 1000


def test_cli_requires_project_and_key_together(tmp_path):
    with pytest.raises(SystemExit):
        main(["--state", str(tmp_path / "s.db"), "--project", "demo"])
