"""The sandbox's state file: each part's schema is versioned apart, and files written before that open as
they are, with their users, requests and faults."""

from __future__ import annotations

import sqlite3

import pytest

from sync_core.sandbox import IterableState
from sync_core.sandbox.core import SandboxStore, Schema
from sync_core.sandbox.core.database import PER_SCHEMA_VERSIONS

from sandbox_fixtures import API_KEY, PROJECT


def versions(path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT name, version FROM schema_versions"))


def make_legacy(path, user_version: int) -> None:
    """A file as the sandbox wrote it before per-schema versions: the same tables, one user_version."""
    state = IterableState(path)
    state.add_project(PROJECT, API_KEY)
    state.upsert_users(PROJECT, [{"email": "kept@example.com", "dataFields": {"n": 1}}])
    state.close()
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE schema_versions")
        db.execute("DROP TABLE events")  # custom events came after per-schema versions
        db.execute("DROP TABLE event_filters")
        db.execute("DROP TABLE lists")  # and lists and key scopes after them
        db.execute("DROP TABLE list_members")
        db.execute("ALTER TABLE projects DROP COLUMN key_scope")
        if user_version == 1:  # before faults
            db.execute("DROP TABLE faults")
            db.execute("ALTER TABLE requests DROP COLUMN fault")
            db.execute("ALTER TABLE requests DROP COLUMN stored")
        db.execute(f"PRAGMA user_version = {user_version}")


def test_a_new_file_records_each_schemas_version(tmp_path):
    IterableState(tmp_path / "s.db").close()

    assert versions(tmp_path / "s.db") == {"request_log": 2, "faults": 1, "iterable": 3}


@pytest.mark.parametrize("user_version", [1, 2])
def test_a_file_from_before_per_schema_versions_keeps_its_data_and_gains_what_it_lacked(tmp_path, user_version):
    make_legacy(tmp_path / "s.db", user_version)

    state = IterableState(tmp_path / "s.db")
    try:
        assert state.get_user(PROJECT, email="kept@example.com")["dataFields"] == {"n": 1}
        state.add_fault("*", "drop")  # the faults table exists
        assert [f["kind"] for f in state.faults()] == ["drop"]
        assert state.project_for_key(API_KEY) == PROJECT
        assert state.key_scope(PROJECT) == "standard"  # lists and key scopes came later: a key keeps writing
        assert state.lists(PROJECT) == [] and state.add_list(PROJECT, "Customers") > 0
    finally:
        state.close()
    assert versions(tmp_path / "s.db") == {"request_log": 2, "faults": 1, "iterable": 3}


def test_a_vendor_schema_migrates_on_its_own_numbers(tmp_path):
    class Widgets(SandboxStore):
        SCHEMAS = SandboxStore.CORE_SCHEMAS + (Schema("widgets", (("CREATE TABLE widgets (name TEXT)",),)),)

    class WidgetsV2(SandboxStore):
        SCHEMAS = SandboxStore.CORE_SCHEMAS + (Schema("widgets", (
            ("CREATE TABLE widgets (name TEXT)",), ("ALTER TABLE widgets ADD COLUMN size INTEGER",))),)

    Widgets(tmp_path / "w.db").close()
    WidgetsV2(tmp_path / "w.db").close()

    assert versions(tmp_path / "w.db") == {"request_log": 2, "faults": 1, "widgets": 2}
    with pytest.raises(RuntimeError, match="widgets schema version 2; this code knows 1"):
        Widgets(tmp_path / "w.db")


def test_a_file_from_newer_code_is_refused(tmp_path):
    with sqlite3.connect(tmp_path / "s.db") as db:
        db.execute(f"PRAGMA user_version = {PER_SCHEMA_VERSIONS + 1}")

    with pytest.raises(RuntimeError, match="this code knows"):
        IterableState(tmp_path / "s.db")
