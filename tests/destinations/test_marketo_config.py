"""workspace.toml for Marketo: the instance by munchkin_id or base_url, client id and secret by reference, the
activity type and the fields an activity needs; each mistake names the file and key."""

from __future__ import annotations

import pytest

from sync_core import ConfigError, load_workspace

from workspace_toml import added_after, duckdb_source, iterable, marketo, model, removed, sync, workspace

MARKETO = workspace(
    duckdb_source(), marketo(munchkin_id="123-ABC-456", client_secret="secrets:marketo.client_secret"),
    model("SELECT email, created_at, namespace FROM people"),
    sync("activities", destination="marketo", object="activity", mode="insert", activity_type="namespaceCreated_c",
         mappings=[("created_at", "activityDate"), ("namespace", "primaryAttributeValue")]))


def load(tmp_path, text):
    (tmp_path / "workspace.toml").write_text(text)
    return load_workspace(tmp_path)


def test_a_marketo_destination_loads_with_its_instance_url_references_and_reserve(tmp_path):
    workspace = load(tmp_path, MARKETO)
    destination, sync = workspace.destinations["marketo"], workspace.syncs["activities"]
    assert destination.base_url == "https://123-ABC-456.mktorest.com"
    assert destination.client_id.describe() == "env:MARKETO_CLIENT_ID"
    assert destination.api_key.describe() == "secrets:marketo.client_secret"
    assert destination.rate_limit_reserve == 0.2  # other integrations share the instance's limits
    assert destination.settings == {"daily_quota": 50_000, "daily_quota_reserve": 0.2}
    assert sync.options == {"activity_type": "namespaceCreated_c"}
    changed = load(tmp_path, MARKETO.replace('"namespaceCreated_c"', '"other_c"'))
    assert changed.fingerprint("activities") != workspace.fingerprint("activities")  # resent on a type change


@pytest.mark.parametrize("old, new, key, problem", [
    (*removed('munchkin_id = "123-ABC-456"'), "destinations.marketo.munchkin_id", "is required (or give base_url)"),
    ('"123-ABC-456"', '"abc"', "destinations.marketo.munchkin_id", "does not read like"),
    (*removed('client_id = "env:MARKETO_CLIENT_ID"'), "destinations.marketo.client_id", "secret reference"),
    ('client_secret = "secrets:marketo.client_secret"', 'client_secret = "hunter2"', "destinations.marketo.client_secret",
     ""),
    ('client_id = "env:MARKETO_CLIENT_ID"', 'api_key = "env:X"', "destinations.marketo", "api_key"),
    (*removed('activity_type = "namespaceCreated_c"'), "syncs.activities.activity_type", "is required"),
    ('{ column = "namespace", field = "primaryAttributeValue" }', '{ column = "namespace", field = "ns" }',
     "syncs.activities.mappings", "must map a column to primaryAttributeValue"),
    ('mode = "insert"', 'mode = "update"', "syncs.activities.mode", "insert"),
    (*added_after('type = "marketo"', 'daily_quota = 0'), "destinations.marketo.daily_quota", "at least 1"),
    (*added_after('type = "marketo"', 'daily_quota_reserve = 1.5'), "destinations.marketo.daily_quota_reserve",
     "share between 0 and 1"),
])
def test_mistakes_name_the_file_and_key(tmp_path, old, new, key, problem):
    assert old in MARKETO
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, MARKETO.replace(old, new))
    message = str(raised.value)
    assert str(tmp_path / "workspace.toml") in message and key in message and problem in message
    assert "hunter2" not in message


def test_an_activity_type_on_an_iterable_sync_is_refused(tmp_path):
    text = workspace(MARKETO, iterable(), sync("users", activity_type="x", mappings=[("namespace", "namespace")]))
    with pytest.raises(ConfigError, match="syncs.users.activity_type: is not a key of a sync to iterable users"):
        load(tmp_path, text)
