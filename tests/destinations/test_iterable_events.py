"""Iterable custom events (`object = "event"`): a few hand-written rows synced to a real sandbox on loopback, and
every bad input the events sync must refuse with a clear cause while the other rows go through."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import requests

from small_workspace import KEY, PROJECT, small_workspace
from sync_core import invariant_violations, load_workspace
from sync_core.config import ConfigError
from sync_core.destinations.iterable.events import event_id

TABLE = "k VARCHAR, email VARCHAR, user_id VARCHAR, kind VARCHAR, plan VARCHAR, happened TIMESTAMP"
SETTINGS = 'event_name = "Namespace Created"\ncreated_at = "happened"'
MAPPINGS = [("plan", "plan")]
PAST = datetime(2025, 3, 1, 12, 0, 0)


def events_workspace(tmp_path, monkeypatch, rows, *, settings=SETTINGS, table=TABLE, mode="update", match="email",
                     mappings=MAPPINGS):
    return small_workspace(tmp_path, monkeypatch, table=table, rows=rows, mappings=mappings, mode=mode,
                           primary_key="k", sync_settings=settings, obj="event", match=match)


def exported_events(small) -> list[dict]:
    """The sandbox's customEvent export, read over HTTP as a client of Iterable would."""
    response = requests.get(f"{small.server.url}/api/export/data.json", headers={"Api-Key": KEY},
                            params={"dataTypeName": "customEvent", "range": "All"}, timeout=10)
    response.raise_for_status()
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def causes_by_key(small) -> dict[str, tuple[str, str]]:
    """key -> (code, message) of the current rejection state."""
    return {k: (c, m) for k, c, m in small.state_sql("SELECT key, code, message FROM rejections "
                                                     "JOIN causes ON causes.id = rejections.cause_id")}


def test_one_event_per_key_with_the_synced_values_and_the_documented_id(tmp_path, monkeypatch):
    rows = [("ns1", "ana@x.io", "u1", None, "team", PAST), ("ns2", "ana@x.io", "u1", None, "free", PAST),
            ("ns3", "bob@x.io", "u2", None, "business", PAST), ("ns4", "nobody@x.io", "u9", None, "free", PAST)]
    with events_workspace(tmp_path, monkeypatch, rows) as small:
        small.create_users("ana@x.io", "bob@x.io")
        run = small.run()
        counts = run.counts.as_dict()
        assert run.status == "healthy", run.error
        assert invariant_violations(counts) == []
        assert counts["synced"] == 3 and counts["rejected_expected"] == 1  # nobody@x.io has no user: expected

        exported = exported_events(small)
        assert sorted((e["id"], e["email"], e["eventName"], e["dataFields"]["plan"]) for e in exported) == sorted([
            (event_id("people", "ns1"), "ana@x.io", "Namespace Created", "team"),
            (event_id("people", "ns2"), "ana@x.io", "Namespace Created", "free"),
            (event_id("people", "ns3"), "bob@x.io", "Namespace Created", "business")])
        assert {e["createdAt"] for e in exported} == {"2025-03-01 12:00:00 +00:00"}
        # A person's events, through GET /api/events/{email}
        answer = requests.get(f"{small.server.url}/api/events/ana@x.io", headers={"Api-Key": KEY},
                              params={"limit": 10}, timeout=10).json()
        assert sorted(e["dataFields"]["plan"] for e in answer["events"]) == ["free", "team"]
        # The not-found person cost no call: no trackBulk carried them.
        sent = {i for r in small.sandbox.requests(endpoint="events/trackBulk") for i in r["identifiers"]}
        assert "nobody@x.io" not in sent
        assert small.sandbox.get_user(PROJECT, email="nobody@x.io") is None  # update-only created nobody


def test_a_changed_row_updates_its_event_in_place_and_a_full_resync_adds_none(tmp_path, monkeypatch):
    rows = [("ns1", "ana@x.io", "u1", None, "team", PAST), ("ns2", "bob@x.io", "u2", None, "free", PAST)]
    with events_workspace(tmp_path, monkeypatch, rows) as small:
        small.create_users("ana@x.io", "bob@x.io")
        assert small.run().counts.as_dict()["synced"] == 2
        small.sql("UPDATE people SET plan = 'enterprise' WHERE k = 'ns1'")
        changed = small.run()
        assert changed.counts.as_dict()["changed"] == 1 and changed.counts.as_dict()["synced"] == 1
        by_id = {e["id"]: e for e in exported_events(small)}
        assert len(by_id) == 2 and by_id[event_id("people", "ns1")]["dataFields"]["plan"] == "enterprise"

        resync = small.run(full_resync=True)
        assert resync.counts.as_dict()["synced"] == 2
        after = exported_events(small)
        assert len(after) == small.sandbox.event_count(PROJECT) == 2
        assert {e["id"] for e in after} == set(by_id)


def test_an_event_name_the_project_disallows_is_a_config_cause_naming_it_and_the_setting(tmp_path, monkeypatch):
    settings = 'event_name_column = "kind"\ncreated_at = "happened"'
    rows = [("ns1", "ana@x.io", "u1", "Namespace Created", "team", PAST),
            ("ns2", "bob@x.io", "u2", "Test Event", "free", PAST)]
    with events_workspace(tmp_path, monkeypatch, rows, settings=settings) as small:
        small.create_users("ana@x.io", "bob@x.io")
        small.sandbox.block_event_name(PROJECT, "Test Event")
        run = small.run()
        assert run.counts.as_dict()["synced"] == 1 and run.counts.as_dict()["rejected_other"] == 1
        code, message = causes_by_key(small)["ns2"]
        assert code == "DisallowedEventName"
        assert "'Test Event'" in message and "Project Settings" in message and "event_name_column" in message
        [problem] = small.state_sql("SELECT error_class FROM causes WHERE code = 'DisallowedEventName'")
        assert problem == ("config",)
        assert [e["eventName"] for e in exported_events(small)] == ["Namespace Created"]


@pytest.mark.parametrize("value, code, words", [
    (None, "MissingCreatedAt", "is null"),
    ("2999-01-01 00:00:00", "FutureCreatedAt", "in the future"),
    ("next tuesday", "InvalidCreatedAt", "not a timestamp"),
])
def test_a_bad_created_at_is_a_data_cause_and_the_other_rows_sync(tmp_path, monkeypatch, value, code, words):
    table = TABLE.replace("happened TIMESTAMP", "happened VARCHAR")
    rows = [("ns1", "ana@x.io", "u1", None, "team", "2025-03-01 12:00:00"),
            ("ns2", "bob@x.io", "u2", None, "free", value)]
    with events_workspace(tmp_path, monkeypatch, rows, table=table) as small:
        small.create_users("ana@x.io", "bob@x.io")
        run = small.run()
        assert run.counts.as_dict()["synced"] == 1 and run.counts.as_dict()["rejected_other"] == 1
        got, message = causes_by_key(small)["ns2"]
        assert got == code and words in message
        assert "Column 'happened' (created_at of syncs.people in workspace.toml)" in message
        assert [e["id"] for e in exported_events(small)] == [event_id("people", "ns1")]


def test_a_future_timestamp_column_is_refused_too(tmp_path, monkeypatch):
    soon = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(days=3)
    rows = [("ns1", "ana@x.io", "u1", None, "team", soon)]
    with events_workspace(tmp_path, monkeypatch, rows) as small:
        small.create_users("ana@x.io")
        assert small.run().counts.as_dict()["rejected_other"] == 1
        assert causes_by_key(small)["ns1"][0] == "FutureCreatedAt"
        assert small.sandbox.event_count(PROJECT) == 0


def test_a_created_at_column_that_is_not_a_time_type_is_a_config_error_naming_the_key(tmp_path, monkeypatch):
    table = TABLE.replace("happened TIMESTAMP", "happened BIGINT")
    with events_workspace(tmp_path, monkeypatch, [("ns1", "ana@x.io", "u1", None, "team", 1_700_000_000)],
                          table=table) as small:
        small.create_users("ana@x.io")
        run = small.run()
        assert run.status == "failed" and run.error_class == "config"
        assert "workspace.toml: syncs.people.created_at" in run.error and "TO_TIMESTAMP" in run.error
        assert small.sandbox.requests(endpoint="events/trackBulk") == []


def test_an_event_over_4_mb_is_refused_alone_without_a_call(tmp_path, monkeypatch):
    huge = "x" * (4 * 1024 * 1024 + 10)
    rows = [("ns1", "ana@x.io", "u1", None, "team", PAST), ("ns2", "bob@x.io", "u2", None, huge, PAST)]
    with events_workspace(tmp_path, monkeypatch, rows) as small:
        small.create_users("ana@x.io", "bob@x.io")
        run = small.run()
        assert run.counts.as_dict()["synced"] == 1 and run.counts.as_dict()["rejected_other"] == 1
        code, message = causes_by_key(small)["ns2"]
        assert code == "EventTooLarge" and "at most 4,194,304 bytes" in message
        assert all(len(r["identifiers"]) == 1 for r in small.sandbox.requests(endpoint="events/trackBulk"))
        assert [e["id"] for e in exported_events(small)] == [event_id("people", "ns1")]


def test_two_model_rows_with_one_key_send_no_event_for_it(tmp_path, monkeypatch):
    rows = [("ns1", "ana@x.io", "u1", None, "team", PAST), ("ns1", "ana@x.io", "u1", None, "free", PAST),
            ("ns2", "bob@x.io", "u2", None, "free", PAST)]
    with events_workspace(tmp_path, monkeypatch, rows) as small:
        small.create_users("ana@x.io", "bob@x.io")
        run = small.run()
        assert run.counts.as_dict()["invalid"] == 2 and run.counts.as_dict()["synced"] == 1
        assert causes_by_key(small)["ns1"][0] == "DuplicatePrimaryKey"
        assert [e["id"] for e in exported_events(small)] == [event_id("people", "ns2")]


def test_an_event_name_column_null_for_some_rows_refuses_those_rows(tmp_path, monkeypatch):
    settings = 'event_name_column = "kind"\ncreated_at = "happened"'
    rows = [("ns1", "ana@x.io", "u1", "Namespace Created", "team", PAST), ("ns2", "bob@x.io", "u2", None, "free", PAST),
            ("ns3", "bob@x.io", "u2", "  ", "free", PAST)]
    with events_workspace(tmp_path, monkeypatch, rows, settings=settings) as small:
        small.create_users("ana@x.io", "bob@x.io")
        run = small.run()
        assert run.counts.as_dict()["synced"] == 1 and run.counts.as_dict()["rejected_other"] == 2
        causes = causes_by_key(small)
        assert causes["ns2"][0] == causes["ns3"][0] == "MissingEventName"
        assert "Column 'kind' (event_name_column of syncs.people in workspace.toml) is empty" in causes["ns2"][1]


def test_a_match_column_that_is_an_integer_is_a_config_error_naming_the_key(tmp_path, monkeypatch):
    table = "k VARCHAR, user_id BIGINT, plan VARCHAR, happened TIMESTAMP"
    with events_workspace(tmp_path, monkeypatch, [("ns1", 42, "team", PAST)], table=table, match="user_id") as small:
        run = small.run()
        assert run.status == "failed" and run.error_class == "config"
        assert "workspace.toml: syncs.people.match.column" in run.error
        assert "TO_VARCHAR" in run.error
        assert small.sandbox.requests(endpoint="events/trackBulk") == []


def test_not_found_in_the_answer_is_the_expected_rejection_and_fields_dropped_are_a_note(tmp_path, monkeypatch):
    # upsert by userId: no look-up first, so Iterable's answer says who is not found
    rows = [("ns1", "ana@x.io", "u1", None, "team", PAST), ("ns2", "bob@x.io", "u404", None, "free", PAST)]
    with events_workspace(tmp_path, monkeypatch, rows, mode="upsert", match="user_id",
                          mappings=[("plan", "plan"), ("email", "contact")]) as small:
        small.sandbox.upsert_users(PROJECT, [{"email": "ana@x.io", "userId": "u1"}])
        small.sandbox.filter_event_field(PROJECT, "contact")
        run = small.run()
        counts = run.counts.as_dict()
        assert counts["synced"] == 1 and counts["rejected_expected"] == 1, counts
        assert causes_by_key(small)["ns2"][0] == "NotFound"
        assert any("dropped field contact" in note and "syncs.people" in note for note in run.notes), run.notes
        [stored] = exported_events(small)
        assert stored["userId"] == "u1" and stored["dataFields"] == {"plan": "team"}


def test_without_created_at_events_are_dated_at_the_run_and_the_run_says_so(tmp_path, monkeypatch):
    rows = [("ns1", "ana@x.io", "u1", None, "team", None)]
    with events_workspace(tmp_path, monkeypatch, rows, settings='event_name = "Seen"') as small:
        small.create_users("ana@x.io")
        before = datetime.now(timezone.utc).replace(microsecond=0)
        run = small.run()
        assert any("names no created_at column" in note for note in run.notes), run.notes
        [event] = small.sandbox.events(PROJECT)
        assert before.timestamp() <= event["createdAt"] <= datetime.now(timezone.utc).timestamp()


@pytest.mark.parametrize("settings, key, words", [
    ("", "event_name", "not both or neither"),
    ('event_name = "A"\nevent_name_column = "kind"', "event_name", "not both or neither"),
    ('event_name = " "', "event_name", "is empty"),
])
def test_event_settings_are_validated_with_the_file_and_key(tmp_path, monkeypatch, settings, key, words):
    with events_workspace(tmp_path, monkeypatch, [], settings=settings) as small:
        with pytest.raises(ConfigError) as error:
            load_workspace(small.root)
        assert error.value.key == f"syncs.people.{key}" and words in str(error.value)
        assert str(error.value).startswith(str(small.root / "workspace.toml"))


def test_event_settings_on_a_user_sync_are_refused(tmp_path, monkeypatch):
    with small_workspace(tmp_path, monkeypatch, table="email VARCHAR", rows=[], mappings=[("email", "e2")],
                         sync_settings='event_name = "A"') as small:
        with pytest.raises(ConfigError) as error:
            load_workspace(small.root)
        assert error.value.key == "syncs.people.event_name" and 'object = "event"' in str(error.value)


def test_a_destination_rate_limit_for_another_object_is_accepted_and_an_unknown_one_named(tmp_path, monkeypatch):
    rows = [("ns1", "ana@x.io", "u1", None, "team", PAST)]
    with small_workspace(tmp_path, monkeypatch, table=TABLE, rows=rows, mappings=MAPPINGS, primary_key="k",
                         sync_settings=SETTINGS, obj="event",
                         destination_settings='rate_limits = { "users/bulkUpdate" = "9/s" }') as small:
        small.create_users("ana@x.io")
        assert small.run().counts.as_dict()["synced"] == 1  # the users' endpoint: not this sync's, not an error
        small.root.joinpath("workspace.toml").write_text(small.root.joinpath("workspace.toml").read_text().replace(
            '"users/bulkUpdate" = "9/s"', '"events/track" = "9/s"'))
        run = small.run()
        assert run.status == "failed" and "destinations.iterable.rate_limits.events/track" in run.error
        assert "events/trackBulk" in run.error
