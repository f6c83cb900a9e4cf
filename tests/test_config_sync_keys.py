"""The keys of a sync that only one destination object takes (an event's name, a list, an activity type): declared
once per object in its catalog entry (ObjectType.sync_keys), read by config.py one way into SyncConfig.options,
each mistake naming the file and the key."""

from __future__ import annotations

import pytest

from sync_core import ConfigError, load_workspace
from sync_core.destinations.catalog import DESTINATION_TYPES
from sync_core.event_settings import EventSettings

from workspace_toml import added_after, duckdb_source, iterable, marketo, model, removed, sync, workspace

WORKSPACE = workspace(
    duckdb_source(), iterable(), marketo(munchkin_id="123-ABC-456"),
    model("SELECT email, plan, kind, seen_at FROM people"),
    sync("users", mappings=[("plan", "plan")]),
    sync("events", object="event", event_name="Signed Up", created_at="seen_at", mappings=[("plan", "plan")]),
    sync("list", object="list", list_id=7, mappings=None),
    sync("activities", destination="marketo", object="activity", mode="insert", activity_type="signedUp_c",
         mappings=[("seen_at", "activityDate"), ("plan", "primaryAttributeValue")]))

DECLARED = sorted({(key.name, f"{t.name} {name}", name) for t in DESTINATION_TYPES.values()
                   for name, o in t.objects.items() for key in o.sync_keys})


def load(tmp_path, text=WORKSPACE):
    (tmp_path / "workspace.toml").write_text(text)
    return load_workspace(tmp_path)


def refused(tmp_path, text) -> ConfigError:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, text)
    assert str(raised.value).startswith(str(tmp_path / "workspace.toml"))
    return raised.value


def test_every_object_s_keys_come_out_as_its_options(tmp_path):
    syncs = load(tmp_path).syncs
    assert syncs["users"].options == {} and syncs["users"].event is None
    assert syncs["list"].options == {"list_id": "7"} and syncs["list"].event is None  # a number, kept as text
    assert syncs["activities"].options == {"activity_type": "signedUp_c"}
    assert syncs["events"].options == {"event_name": "Signed Up", "created_at": "seen_at"}
    assert syncs["events"].event == EventSettings("syncs.events", name="Signed Up", created_at_column="seen_at")


def test_fingerprints_are_those_of_the_release_before_the_keys_were_declared_one_way(tmp_path):
    # Computed on main before this change: a changed fingerprint tells every sync's next run its config changed.
    workspace = load(tmp_path)
    assert {sync: workspace.fingerprint(sync) for sync in workspace.syncs} == {
        "users": "70914740423d6474", "events": "9d2e474ee45e5ae0", "list": "a670f3d8b060f0ba",
        "activities": "1ec527643d20ccc6"}


@pytest.mark.parametrize("key, owner, obj", DECLARED)
def test_an_object_s_key_on_a_sync_of_another_object_names_the_object_it_belongs_to(tmp_path, key, owner, obj):
    text = WORKSPACE.replace('object = "user"\n', f'object = "user"\n{key} = "x"\n')
    error = refused(tmp_path, text)
    assert error.key == f"syncs.users.{key}"
    assert "is not a key of a sync to iterable users" in str(error)
    assert f'{owner}s (object = "{obj}")' in str(error)


@pytest.mark.parametrize("old, new, key, words", [
    ('event_name = "Signed Up"', 'event_name = " "', "syncs.events.event_name",
     "is empty: give the name the events are tracked under"),
    ('created_at = "seen_at"', 'created_at = ""', "syncs.events.created_at", "is empty: give the name of the model's"),
    ('list_id = 7', 'list_name = "  "', "syncs.list.list_name", "is empty: give the list's name"),
    ('activity_type = "signedUp_c"', 'activity_type = ""', "syncs.activities.activity_type", "is empty"),
    ('activity_type = "signedUp_c"', 'activity_type = 3', "syncs.activities.activity_type", "must be str, not int"),
    ('list_id = 7', 'list_id = 7.5', "syncs.list.list_id", "must be int or str, not float"),
    (*removed('activity_type = "signedUp_c"'), "syncs.activities.activity_type",
     'is required: give the API name of a custom activity type (Admin > Marketo Custom Activities) '
     '(activity_type = "namespaceCreated_c")'),
])
def test_a_wrong_value_names_the_key_and_what_it_should_be(tmp_path, old, new, key, words):
    assert old in WORKSPACE
    error = refused(tmp_path, WORKSPACE.replace(old, new))
    assert error.key == key and words in str(error)


@pytest.mark.parametrize("old, new, given", [
    (*removed('list_id = 7'), ""),
    (*added_after('list_id = 7', 'list_name = "Customers"'), " (list_id and list_name are given: keep one)"),
])
def test_a_group_of_keys_takes_exactly_one_and_shows_each_way(tmp_path, old, new, given):
    error = refused(tmp_path, WORKSPACE.replace(old, new))
    assert error.key == "syncs.list.list_id"
    assert str(error).endswith(
        f"a sync to iterable lists gives exactly one of list_id or list_name, not both or neither{given}: "
        "`list_id = 123` (the list's id) or `list_name = \"Customers\"` (the list's name)")
