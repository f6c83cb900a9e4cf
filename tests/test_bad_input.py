"""Bad input gets a clear error and loses nothing: the snapshot and the sandbox stay as they were,
or only the bad rows are rejected."""

from __future__ import annotations

import pytest

from sync_core import ConfigError, StateStore, load_workspace, run_sync
from sync_core.cli import main as cli


@pytest.fixture
def synced_once(demo):
    """The demo after one good run: what must survive the bad one."""
    demo.run("iterable-production")
    return demo


def state_of(demo):
    with StateStore(demo.workspace.state_path) as store:
        snapshot = store.snapshot_table("iterable-production").to_pylist()
    users = sorted((u["email"] or "", u["userId"] or "", str(u["dataFields"])) for u in demo.users())
    return sorted(snapshot, key=lambda r: r["key"]), users


def run_broken(demo, old, new):
    before = state_of(demo)
    mark = demo.sandbox.last_request_id()
    demo.edit_workspace(old, new)
    record = demo.run("iterable-production")
    assert record.status == "failed"
    assert state_of(demo) == before, "a failed run changed the snapshot or the destination"
    assert demo.writes_since(mark) == []
    return record


def test_sql_error_in_a_model_names_the_model(synced_once):
    record = run_broken(synced_once, "c.job_title, c.country", "c.job_titel, c.country")
    assert record.error_class == "config"
    assert "model 'contacts'" in record.error and "job_titel" in record.error


def test_unsupported_snowflake_construct_fails_loudly_naming_the_model(synced_once):
    record = run_broken(synced_once, "c.created_at,\n", "c.created_at, TO_VARCHAR(c.created_at, 'YYYY') AS y,\n")
    assert "model 'contacts'" in record.error and "cannot run" in record.error


def test_mapping_to_a_missing_column_names_file_and_key(synced_once):
    record = run_broken(synced_once, 'column = "job_title"', 'column = "jobtitle"')
    assert "workspace.toml: syncs.iterable-production.mappings[3].column" in record.error
    assert "'jobtitle' is not returned by model 'contacts'" in record.error
    assert record.counts.queried == 0  # refused before the model's rows were read


def test_wrong_api_key_stops_the_run_with_a_hint(synced_once):
    demo = synced_once
    secrets = demo.root / ".streamlit" / "secrets.toml"
    secrets.write_text('[sandbox]\niterable_api_key = "not-the-key"\n')
    before = state_of(demo)
    mark = demo.sandbox.last_request_id()
    record = demo.run("iterable-production", full_resync=True)  # rows to send, so the destination is called
    assert record.status == "failed" and record.error_class == "config"
    assert "destination 'iterable' answered HTTP 401 BadApiKey" in record.error
    assert "secrets:sandbox.iterable_api_key" in record.error and "not-the-key" not in record.error
    assert state_of(demo) == before
    assert [r["status"] for r in demo.sandbox.requests(since_id=mark)] == [401]
    assert record.counts.as_dict()["synced"] == 0


def test_literal_secret_is_refused_without_echoing_it(demo):
    demo.edit_workspace('api_key = "secrets:sandbox.iterable_api_key"', 'api_key = "pk_live_5f3a9c"')
    with pytest.raises(ConfigError) as err:
        load_workspace(demo.root)
    message = str(err.value)
    assert "workspace.toml: destinations.iterable.api_key" in message and "literal secret" in message
    assert "pk_live_5f3a9c" not in message


def test_missing_environment_secret_names_the_variable(demo, monkeypatch):
    monkeypatch.delenv("ITERABLE_TEST_KEY", raising=False)
    demo.edit_workspace('api_key = "secrets:sandbox.iterable_api_key"', 'api_key = "env:ITERABLE_TEST_KEY"')
    record = demo.run("iterable-production")
    assert record.status == "failed" and "environment variable ITERABLE_TEST_KEY is not set" in record.error
    assert record.counts.queried == 0


def test_unknown_sync_is_an_error_with_a_suggestion(demo, capsys):
    with pytest.raises(ConfigError) as err:
        run_sync(demo.workspace, "iterable-prod")
    assert "no sync with id 'iterable-prod'" in str(err.value) and "Did you mean 'iterable-production'" in str(err.value)
    assert cli(["-w", str(demo.root), "run", "iterable-prod"]) == 2
    assert "no sync with id" in capsys.readouterr().err


def test_null_and_duplicate_keys_and_invalid_emails_reject_only_those_rows(demo):
    with __import__("duckdb").connect(str(demo.root / "warehouse.duckdb")) as con:
        con.execute("UPDATE marketing_contacts SET email = NULL WHERE contact_id = 1")
        con.execute("UPDATE marketing_contacts SET email = (SELECT email FROM marketing_contacts WHERE contact_id = 3) "
                    "WHERE contact_id = 2")
        con.execute("UPDATE marketing_contacts SET email = 'no-at-sign.example.com' WHERE contact_id = 4")
    record = demo.run("iterable-production")
    with StateStore(demo.workspace.state_path) as store:
        rejected = {r.key: r for r in store.rejections(sync_id="iterable-production")}
        causes = {c.code: c for c in store.run_causes(record.id)}
    duplicate = demo.warehouse("SELECT email FROM marketing_contacts WHERE contact_id = 3")[0][0]
    assert rejected[duplicate].code == "DuplicatePrimaryKey" and rejected[duplicate].error_class == "data"
    assert "appears in 2 rows" in rejected[duplicate].message
    assert rejected["no-at-sign.example.com"].code == "InvalidEmailAddressError"
    assert causes["NullPrimaryKey"].rows >= 1
    assert record.status == "warning"  # the run went on: everyone else was synced
    assert record.counts.as_dict()["synced"] > 0


def sandbox_key(demo) -> str:
    import tomllib
    return tomllib.loads((demo.root / ".streamlit" / "secrets.toml").read_text())["sandbox"]["iterable_api_key"]


def test_a_key_mounted_from_a_file_with_its_line_break_still_works(demo, monkeypatch):
    monkeypatch.setenv("ITERABLE_TEST_KEY", sandbox_key(demo) + "\n")
    demo.edit_workspace('api_key = "secrets:sandbox.iterable_api_key"', 'api_key = "env:ITERABLE_TEST_KEY"')
    record = demo.run("iterable-production")
    assert record.error is None and record.counts.as_dict()["synced"] > 0


@pytest.mark.parametrize("broken", ["pk-live-1234\nsecond-line-5678",
                                    "pk-live-1234\N{GRINNING FACE}second-line-5678"])  # an emoji: no header holds it
def test_a_key_no_header_can_hold_stops_the_run_and_is_never_shown(synced_once, monkeypatch, capsys, broken):
    demo = synced_once
    monkeypatch.setenv("ITERABLE_TEST_KEY", broken)
    demo.edit_workspace('api_key = "secrets:sandbox.iterable_api_key"', 'api_key = "env:ITERABLE_TEST_KEY"')
    before = state_of(demo)
    assert cli(["-w", str(demo.root), "run", "iterable-production", "--full-resync"]) == 1
    with StateStore(demo.workspace.state_path) as store:
        record = store.list_runs(limit=1)[0]
    assert record.status == "failed" and record.error_class == "config"
    assert "destination 'iterable' answered InvalidApiKey" in record.error and "env:ITERABLE_TEST_KEY" in record.error
    printed = capsys.readouterr()
    stored = b"".join(p.read_bytes() for p in demo.workspace.state_path.parent.rglob("*") if p.is_file())
    for part in ("pk-live-1234", "second-line-5678"):
        assert part not in record.error and part not in printed.out + printed.err
        assert part.encode() not in stored
    assert state_of(demo) == before


def test_a_key_duplicated_for_a_day_is_cleared_once_unique_again(synced_once):
    demo = synced_once
    key = sorted(demo.snapshot())[0]
    demo.edit_warehouse("INSERT INTO marketing_contacts SELECT * REPLACE ('Copy' AS first_name) FROM marketing_contacts "
                        "WHERE email = ?", [key])
    demo.run("iterable-production")
    assert [r.code for r in demo.rejections(key)] == ["DuplicatePrimaryKey"]
    demo.edit_warehouse("DELETE FROM marketing_contacts WHERE email = ? AND first_name = 'Copy'", [key])
    fixed = demo.run("iterable-production")
    assert demo.rejections(key) == []  # no longer counted among the duplicates
    # "added": a key refused as a duplicate leaves the snapshot (it named no one record), so it comes back new.
    assert fixed.counts.as_dict()["added"] >= 1 and key in demo.snapshot()


def test_an_email_padded_with_spaces_syncs_to_its_user(synced_once):
    demo = synced_once
    key = sorted(demo.snapshot())[5]
    demo.edit_warehouse("UPDATE marketing_contacts SET email = ' ' || email || ' ', lead_score = lead_score + 1 "
                        "WHERE email = ?", [key])
    record = demo.run("iterable-production")
    assert record.counts.as_dict()["failed"] == 0  # before: its whole request, on every run
    assert demo.rejections(key) == []
    [user] = [u for u in demo.users() if u["email"] == key]
    [(score,)] = demo.warehouse(f"SELECT lead_score FROM marketing_contacts WHERE trim(email) = '{key}'")
    assert user["dataFields"]["leadScore"] == score
