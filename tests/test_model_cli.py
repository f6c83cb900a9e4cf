"""`sync-core model preview` and `sync-core model check`: a model looked at before its first sync, on DuckDB (the
demo's warehouse) and on Snowflake (the emulator over the real connector). Keys are judged as the planner judges
them: a check's invalid rows are the rows a run rejects as invalid."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace

import pytest

from small_workspace import small_workspace
from sync_core.demo.snowflake_emulator import snowflake_emulator
from sync_core.model_check import check, null_key_query
from sync_core.sources import open_source

PASSWORD_VAR = "MODEL_TEST_PASSWORD"


def model_cli(root, *args, env=None):
    return subprocess.run([sys.executable, "-m", "sync_core.cli", "-w", str(root), "model", *args],
                          capture_output=True, text=True, timeout=180, env={**os.environ, **(env or {})})


def test_check_finds_the_null_and_duplicate_keys_a_run_rejects(demo):
    done = model_cli(demo.root, "check", "contacts", "--json")
    assert done.returncode == 1, done.stderr  # the demo's warehouse holds null and duplicate keys on purpose
    found = json.loads(done.stdout)
    assert found["null_keys"] > 0 and found["duplicate_keys"] > 0 and not found["ok"]
    assert {"name": "annual_revenue", "type": "decimal128(12, 2)"} in found["columns"]
    assert found["rows"] == demo.warehouse("SELECT COUNT(*) FROM marketing_contacts WHERE deleted_at IS NULL")[0][0]

    dry = demo.run("iterable-production", dry_run=True)
    shared = sum(s["rows"] for s in found["shared_identifiers"] if s["sync"] == "iterable-production")
    assert found["null_keys"] + found["duplicate_rows"] + shared == dry.counts.invalid
    assert found["rows"] == dry.counts.queried

    text = model_cli(demo.root, "check", "contacts")
    assert text.returncode == 1
    assert f"Null or empty keys: {found['null_keys']:,}" in text.stdout
    assert re.search(rf"Duplicate keys: +{found['duplicate_keys']:,} key\(s\) in {found['duplicate_rows']:,} rows "
                     rf"\(e\.g\. {re.escape(found['duplicate_examples'][0])}", text.stdout)
    assert "annual_revenue" in text.stdout and "would be rejected by a sync as invalid" in text.stdout


def test_preview_shows_the_first_rows_as_a_table_and_as_json(demo):
    done = model_cli(demo.root, "preview", "contacts", "--limit", "20", "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert len(shown["rows"]) == 20 and [c["name"] for c in shown["columns"]][:2] == ["email", "user_id"]
    user_ids = {r[0] for r in demo.warehouse("SELECT user_id FROM marketing_contacts")}
    assert {r["user_id"] for r in shown["rows"]} <= user_ids
    revenues = [r["annual_revenue"] for r in shown["rows"] if r["annual_revenue"] is not None]
    assert revenues and all(isinstance(v, str) for v in revenues)  # decimals as text: never a rounded float

    text = model_cli(demo.root, "preview", "first_namespace")
    lines = text.stdout.splitlines()
    assert text.returncode == 0 and lines[0].split()[:2] == ["email", "user_id"]
    assert set(lines[1]) <= {"-", " "} and lines[12] == "(10 rows, the first 10)"
    # the demo's first_namespace is a dbt model: what dbt says of it follows the rows
    assert lines[13].startswith("Model first_namespace: dbt model marketing_contact_namespace_detail (view, owner ")
    assert lines[-1] == "  dbt tests: not_null(first_namespace_id), not_null(user_id), unique(user_id)"


def test_bad_sql_and_an_unknown_model_are_named(demo):
    demo.edit_workspace("FROM marketing_contacts c", "FROM marketing_contactz c")
    done = model_cli(demo.root, "preview", "contacts")
    assert done.returncode == 2 and "model 'contacts' (source 'warehouse')" in done.stderr
    assert "marketing_contactz" in done.stderr and "Traceback" not in done.stderr
    done = model_cli(demo.root, "check", "contact")
    assert done.returncode == 2 and "models.contact: no model 'contact'" in done.stderr
    assert "Did you mean 'contacts'?" in done.stderr
    done = model_cli(demo.root, "preview", "first_namespace", "--limit", "0")
    assert done.returncode == 2 and "--limit must be at least 1" in done.stderr


def test_a_model_whose_keys_are_fine_passes(tmp_path, monkeypatch):
    rows = [("a@x.io", 1), ("b@x.io", 2)]
    with small_workspace(tmp_path, monkeypatch, table="email VARCHAR, score BIGINT", rows=rows,
                         mappings=[("score", "score")]) as s:
        done = model_cli(s.root, "check", "people")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "2 rows" in done.stdout and "Keys are fine" in done.stdout


def test_the_query_for_rows_without_a_key_finds_what_the_run_counted_tabs_and_line_breaks_included(tmp_path,
                                                                                                  monkeypatch):
    rows = [(None, 1), ("", 2), (" ", 3), ("\t", 4), ("\n \r", 5), ("\u00a0", 6), ("a@x.io", 7)]
    with small_workspace(tmp_path, monkeypatch, table="email VARCHAR, score BIGINT", rows=rows, mode="upsert",
                         mappings=[("score", "score")]) as s:
        run = s.run()
        assert s.causes(run.id).get("NullPrimaryKey") == 5  # a no-break space is not trimmed (base.py's rule)
        assert check(s.workspace, "people").null_keys == 5
        query = null_key_query(s.workspace, s.workspace.models["people"])
        assert "\t" not in query and "\n" not in query  # copyable: the characters are written with CHR
        found = s.sql(query)
        assert sorted(score for _, score in found) == [1, 2, 3, 4, 5]


@pytest.fixture(scope="module")
def emulator():
    with snowflake_emulator() as em:
        yield em


def test_on_snowflake_keys_are_compared_as_the_destination_compares_them(emulator, tmp_path, monkeypatch):
    """' A@x.io' and 'a@x.io' are two keys naming one Iterable user; a null key and a key held twice besides."""
    db = emulator.database(["CREATE TABLE PEOPLE (EMAIL VARCHAR, SCORE NUMBER(38,0))",
                            "INSERT INTO PEOPLE VALUES ('A@x.io', 1), ('a@x.io', 2), (NULL, 3), ('d@x.io', 4), "
                            "('d@x.io', 5), ('e@x.io', 6)"])
    monkeypatch.setenv(PASSWORD_VAR, "any-password")
    with small_workspace(tmp_path, monkeypatch, table="email VARCHAR, score BIGINT", rows=[], mode="upsert",
                         mappings=[("score", "score")]) as s:
        toml = s.root / "workspace.toml"
        toml.write_text(re.sub(r"^sources\.wh = .*$", emulator.source_line(db, password_env=PASSWORD_VAR),
                               toml.read_text(), flags=re.M))
        found = check(s.workspace, "people")
        assert (found.rows, found.null_keys, found.duplicate_keys, found.duplicate_rows) == (6, 1, 1, 2)
        assert found.duplicate_examples == ["d@x.io"]
        [shared] = found.shared
        assert (shared.sync, shared.identifiers, shared.rows, shared.examples) == ("people", 1, 2, ["a@x.io"])
        assert found.columns == [("email", "string"), ("score", "decimal128(38, 0)")]  # NUMBER(38,0), exact

        done = model_cli(s.root, "preview", "people", "--limit", "2", "--json")
        assert done.returncode == 0, done.stderr
        assert len(json.loads(done.stdout)["rows"]) == 2

        dry = s.run(dry_run=True)
        assert found.null_keys + found.duplicate_rows + shared.rows == dry.counts.invalid
        query = null_key_query(s.workspace, s.workspace.models["people"])  # Snowflake SQL, run on Snowflake
        without_key = replace(s.workspace.models["people"], sql=query, table=None, columns=())
        source = open_source(s.workspace.sources["wh"])
        assert [b.to_pylist() for b in source.batches(without_key)] == [[{"email": None, "score": 3}]]
