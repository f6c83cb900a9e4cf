"""The Iterable sandbox's lists over real HTTP on loopback: GET /api/lists, subscribe and unsubscribe in the
documented answer's shape, getUsers' membership read-back and its limit, and what refuses a write (an unknown
list, a dynamic list, a read-only key)."""

from __future__ import annotations

import requests

from sandbox_fixtures import PROJECT, START, clock, http, server, state_path  # noqa: F401


def post(server, http, path: str, body: dict) -> requests.Response:
    return http.post(f"{server.url}/api/lists/{path}", json=body)


def members(server, http, list_id: int, **params) -> list[str]:
    answer = http.get(f"{server.url}/api/lists/getUsers", params={"listId": list_id, **params})
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain")
    return answer.text.splitlines()


def test_lists_are_listed_with_their_type_and_creation_time(server, http):
    static = server.state.add_list(PROJECT, "Customers", now=START)
    dynamic = server.state.add_list(PROJECT, "Active", list_type="Dynamic", description="rules", now=START)
    server.state.add_project("other", "other-key")
    server.state.add_list("other", "Not ours", now=START)
    assert http.get(f"{server.url}/api/lists").json() == {"lists": [
        {"id": static, "name": "Customers", "listType": "Standard", "createdAt": int(START * 1000)},
        {"id": dynamic, "name": "Active", "listType": "Dynamic", "createdAt": int(START * 1000),
         "description": "rules"}]}


def test_a_static_list_is_created_over_the_api_and_then_listed(server, http):
    created = http.post(f"{server.url}/api/lists", json={"name": "Trial users"})
    assert created.status_code == 200
    [listed] = http.get(f"{server.url}/api/lists").json()["lists"]
    assert (listed["id"], listed["name"], listed["listType"]) == (created.json()["listId"], "Trial users", "Standard")
    assert http.post(f"{server.url}/api/lists", json={"name": " "}).json()["code"] == "BadParams"


def test_subscribe_and_unsubscribe_answer_per_user_and_get_users_reads_the_membership(server, http):
    server.state.upsert_users(PROJECT, [{"email": "ana@x.io"}, {"email": "bo@x.io"}, {"userId": "u3"}])
    list_id = server.state.add_list(PROJECT, "Customers")
    body = post(server, http, "subscribe", {
        "listId": list_id, "updateExistingUsersOnly": True,
        "subscribers": [{"email": "Ana@x.io", "dataFields": {"plan": "team"}}, {"email": "bo@x.io"},
                        {"userId": "u3"}, {"email": "nobody@x.io"}, {"email": "not-an-email"}]}).json()
    assert set(body) >= {"successCount", "failCount", "failedUpdates", "invalidEmails", "invalidUserIds"}
    assert (body["successCount"], body["failCount"]) == (3, 2)
    assert body["failedUpdates"]["notFoundEmails"] == ["nobody@x.io"]
    assert body["failedUpdates"]["invalidEmails"] == ["not-an-email"]
    assert server.state.get_user(PROJECT, email="nobody@x.io") is None  # updateExistingUsersOnly: nobody created
    assert server.state.get_user(PROJECT, email="ana@x.io")["dataFields"] == {"plan": "team"}
    assert members(server, http, list_id) == ["ana@x.io", "bo@x.io", "u3"]

    again = post(server, http, "subscribe", {"listId": list_id, "subscribers": [{"email": "ana@x.io"}]}).json()
    assert again["successCount"] == 1 and members(server, http, list_id) == ["ana@x.io", "bo@x.io", "u3"]

    gone = post(server, http, "unsubscribe", {"listId": list_id, "subscribers": [
        {"email": "BO@x.io"}, {"userId": "u3"}, {"email": "nobody@x.io"}]}).json()
    assert (gone["successCount"], gone["failCount"]) == (2, 1)
    assert gone["failedUpdates"]["notFoundEmails"] == ["nobody@x.io"]
    assert members(server, http, list_id) == ["ana@x.io"]

    server.state.delete_user(PROJECT, email="ana@x.io")  # a deleted user leaves every list
    assert members(server, http, list_id) == []


def test_without_update_existing_users_only_a_subscribe_creates_the_user(server, http):
    list_id = server.state.add_list(PROJECT, "Customers")
    body = post(server, http, "subscribe", {"listId": list_id, "subscribers": [{"email": "new@x.io"}]}).json()
    assert body["successCount"] == 1 and server.state.get_user(PROJECT, email="new@x.io") is not None
    assert members(server, http, list_id) == ["new@x.io"]


def test_an_unknown_list_a_dynamic_list_and_a_read_only_key_are_refused(server, http):
    server.state.upsert_users(PROJECT, [{"email": "ana@x.io"}])
    dynamic = server.state.add_list(PROJECT, "Active", list_type="Dynamic")
    unknown = post(server, http, "subscribe", {"listId": 999_999, "subscribers": [{"email": "ana@x.io"}]})
    assert unknown.status_code == 400 and unknown.json()["code"] == "NotFound"
    assert http.get(f"{server.url}/api/lists/getUsers", params={"listId": 999_999}).json()["code"] == "NotFound"
    refused = post(server, http, "subscribe", {"listId": dynamic, "subscribers": [{"email": "ana@x.io"}]})
    assert refused.status_code == 400 and refused.json()["code"] == "NotAllowed"

    static = server.state.add_list(PROJECT, "Customers")
    server.state.set_key_scope(PROJECT, "read_only")
    for path in ("subscribe", "unsubscribe"):
        answer = post(server, http, path, {"listId": static, "subscribers": [{"email": "ana@x.io"}]})
        assert answer.status_code == 403 and answer.json()["code"] == "Forbidden"
    assert members(server, http, static) == []  # nothing was written, and reads still work


def test_get_users_is_limited_to_5_a_minute(server, http, clock):
    list_id = server.state.add_list(PROJECT, "Customers")
    answers = [http.get(f"{server.url}/api/lists/getUsers", params={"listId": list_id}) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    clock.advance(60)
    assert http.get(f"{server.url}/api/lists/getUsers", params={"listId": list_id}).status_code == 200
