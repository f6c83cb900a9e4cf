"""The Iterable sandbox's custom events over real HTTP on loopback: trackBulk's answer and limits, events stored by
id, the reads and the customEvent export, and the faults every endpoint takes."""

from __future__ import annotations

import json

import requests

from sandbox_fixtures import API_KEY, PROJECT, START, clock, http, server, state_path  # noqa: F401


def track(server, http, events, **options) -> requests.Response:
    return http.post(f"{server.url}/api/events/trackBulk", json={"events": events, **options})


def event(ident: dict, event_id: str, name: str = "Signed Up", **fields) -> dict:
    return {**ident, "eventName": name, "id": event_id, "createdAt": int(START) - 60, "dataFields": fields}


def test_track_bulk_answers_in_the_documented_shape_and_the_same_id_updates_the_event(server, http):
    server.state.upsert_users(PROJECT, [{"email": "ana@x.io", "userId": "u1"}])
    first = track(server, http, [event({"email": "Ana@x.io"}, "e1", plan="free"),
                                 event({"userId": "u1"}, "e2", plan="team")])
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"successCount", "failCount", "disallowedEventNames", "filteredOutFields",
                         "createdFields", "invalidEmails", "invalidUserIds", "failedUpdates"}
    assert set(body["failedUpdates"]) == {"invalidEmails", "invalidUserIds", "notFoundEmails", "notFoundUserIds",
                                          "forgottenEmails", "forgottenUserIds"}
    assert (body["successCount"], body["failCount"]) == (2, 0)

    again = track(server, http, [event({"email": "ana@x.io"}, "e1", plan="business")]).json()
    assert again["successCount"] == 1
    stored = {e["id"]: e for e in server.state.events(PROJECT)}
    assert len(stored) == 2 and stored["e1"]["dataFields"] == {"plan": "business"}
    assert stored["e2"]["email"] == "ana@x.io"  # the user's email, though the event named them by userId


def test_unknown_users_are_not_found_under_update_only_and_an_email_creates_the_user_otherwise(server, http):
    only = track(server, http, [event({"email": "new@x.io"}, "e1"), event({"userId": "nobody"}, "e2"),
                                event({"email": "not-an-email"}, "e3")], updateOnly=True).json()
    assert only["failedUpdates"]["notFoundEmails"] == ["new@x.io"]
    assert only["failedUpdates"]["notFoundUserIds"] == ["nobody"]
    assert only["failedUpdates"]["invalidEmails"] == only["invalidEmails"] == ["not-an-email"]
    assert (only["successCount"], only["failCount"]) == (0, 3)
    assert server.state.get_user(PROJECT, email="new@x.io") is None

    created = track(server, http, [event({"email": "new@x.io"}, "e1")]).json()
    assert created["successCount"] == 1 and server.state.get_user(PROJECT, email="new@x.io") is not None


def test_a_project_refuses_event_names_and_drops_fields_it_filters(server, http):
    server.state.upsert_users(PROJECT, [{"email": "ana@x.io"}])
    server.state.block_event_name(PROJECT, "Test")
    server.state.filter_event_field(PROJECT, "secret")
    body = track(server, http, [event({"email": "ana@x.io"}, "e1", name="Test"),
                                event({"email": "ana@x.io"}, "e2", plan="team", secret="x")]).json()
    assert body["disallowedEventNames"] == ["Test"] and body["filteredOutFields"] == ["secret"]
    assert (body["successCount"], body["failCount"]) == (1, 1)
    [stored] = server.state.events(PROJECT)
    assert stored["id"] == "e2" and stored["dataFields"] == {"plan": "team"}


def test_a_body_over_4_mb_is_refused_whole(server, http):
    server.state.upsert_users(PROJECT, [{"email": "ana@x.io"}])
    answer = track(server, http, [event({"email": "ana@x.io"}, "e1", blob="x" * (4 * 1024 * 1024))])
    assert answer.status_code == 400 and answer.json()["code"] == "BatchTooLarge"
    assert server.state.event_count(PROJECT) == 0


def test_the_eleventh_track_bulk_in_one_second_is_429(server, http, clock):
    statuses = [track(server, http, []).status_code for _ in range(11)]
    clock.advance(1)
    assert statuses == [200] * 10 + [429]
    assert track(server, http, []).status_code == 200


def test_events_are_read_back_by_user_and_through_the_export_with_their_ids(server, http):
    server.state.upsert_users(PROJECT, [{"email": "ana@x.io", "userId": "u1"}, {"email": "bob@x.io"}])
    track(server, http, [event({"email": "ana@x.io"}, "e1"), event({"email": "bob@x.io"}, "e2", name="Paid")])
    mine = http.get(f"{server.url}/api/events/ana@x.io", params={"limit": 5}).json()["events"]
    assert [(e["id"], e["eventName"]) for e in mine] == [("e1", "Signed Up")]
    assert [e["id"] for e in http.get(f"{server.url}/api/events/byUserId/u1").json()["events"]] == ["e1"]
    assert http.get(f"{server.url}/api/events/ana@x.io", params={"limit": 500}).status_code == 400

    export = http.get(f"{server.url}/api/export/data.json", params={"dataTypeName": "customEvent", "range": "All"})
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert sorted((e["id"], e["eventName"], e["email"]) for e in lines) == [
        ("e1", "Signed Up", "ana@x.io"), ("e2", "Paid", "bob@x.io")]
    assert lines[0]["createdAt"] == "2023-11-14 22:12:20 +00:00"


def test_faults_apply_to_track_bulk(server, http):
    server.state.add_fault("events/trackBulk", "server_error", status=503, times=1)
    assert track(server, http, []).status_code == 503
    assert track(server, http, []).status_code == 200
