"""Models from dbt (`dbt = "model"` in workspace.toml): resolved from the project's manifest (dbt-core 1.6 to 1.10,
and dbt-fusion) to the relation the model materialises in a real DuckDB warehouse, synced to a real Iterable
sandbox; and every way it can be wrong, each a clear error naming the model and the dbt command to run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from contextlib import contextmanager

import pytest

from dbt_artifacts import FLAVOURS, write_project
from small_workspace import small_workspace
from sync_core import load_workspace
from sync_core.demo.snowflake_emulator import snowflake_emulator
from sync_core.errors import ConfigError, ModelError
from sync_core.model_check import check, preview

ROWS = [("ana@x.io", "Ana", 3), ("bob@x.io", "Bob", 5), ("cy@x.io", "Cy", 0), ("dee@x.io", "Dee", 7)]
KEPT = {"ana@x.io", "bob@x.io", "dee@x.io"}  # the dbt model keeps scores above 0


@contextmanager
def dbt_workspace(tmp_path, monkeypatch, *, materialise: bool = True, **project):
    """The small workspace with its model `people` taken from dbt model `people_model` (a table of the rows with a
    positive score), and the dbt project's artifacts written as `project` says."""
    with small_workspace(tmp_path, monkeypatch, table="email VARCHAR, name VARCHAR, score BIGINT", rows=ROWS,
                         mappings=[("name", "firstName"), ("score", "score")], mode="upsert") as s:
        write_project(s.root, **project)
        if materialise:  # what `dbt run` does
            s.sql("CREATE TABLE people_model AS SELECT email, name, score FROM people WHERE score > 0")
        toml = s.root / "workspace.toml"
        toml.write_text(toml.read_text().replace('sql = "SELECT * FROM people"', 'dbt = "people_model"')
                        + '\n[workspace]\ndbt_project = "dbt"\n')
        yield s


def edit_workspace(s, old: str, new: str) -> None:
    toml = s.root / "workspace.toml"
    toml.write_text(toml.read_text().replace(old, new))


def config_error(s) -> str:
    """The model's dbt problem: the workspace still loads (its other models and the dashboard work), and the model
    raises it when used."""
    model = load_workspace(s.root).models["people"]
    with pytest.raises(ConfigError) as raised:
        model.query()
    assert model.dbt is None and str(model.dbt_problem) == str(raised.value)
    return str(raised.value)


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
def test_a_dbt_model_resolves_to_its_relation_and_syncs_its_rows(flavour, tmp_path, monkeypatch):
    with dbt_workspace(tmp_path, monkeypatch, flavour=flavour) as s:
        model = s.workspace.models["people"]
        assert model.sql == 'SELECT * FROM "main"."people_model"'  # the file dbt wrote is the source's database
        dbt = model.dbt
        assert (dbt.name, dbt.project, dbt.materialized, dbt.owner) == ("people_model", "shop", "table",
                                                                       "crm-team@example.com")
        assert dbt.tests == ("assert_scores_positive", "not_null(email)", "unique(email)")
        assert dbt.columns == ("email", "name", "score")
        assert {r["email"] for r in preview(s.workspace, "people").to_pylist()} == KEPT

        record = s.run()
        assert (record.status, record.counts.queried, record.counts.as_dict()["synced"]) == ("healthy", 3, 3)
        assert s.user("bob@x.io")["dataFields"]["firstName"] == "Bob" and s.user("cy@x.io") is None


def test_the_owner_is_the_group_owner_when_meta_names_none(tmp_path, monkeypatch):
    with dbt_workspace(tmp_path, monkeypatch, owner=None, group_owner={"name": "CRM", "email": "crm@x.io"}) as s:
        assert s.workspace.models["people"].dbt.owner == "CRM <crm@x.io>"


def test_syncs_and_preview_show_the_models_description_owner_and_tests(tmp_path, monkeypatch):
    with dbt_workspace(tmp_path, monkeypatch) as s:
        listed = cli(s.root, "syncs", "--json")
        assert listed.returncode == 0, listed.stderr
        [sync] = json.loads(listed.stdout)
        assert sync["dbt"] == {"dbt_model": "people_model", "dbt_project": "shop", "materialized": "table",
                               "description": "", "owner": "crm-team@example.com",
                               "tests": ["assert_scores_positive", "not_null(email)", "unique(email)"]}
        shown = cli(s.root, "model", "preview", "people")
        assert shown.returncode == 0, shown.stderr
        assert ('Model people: dbt model people_model (table, owner crm-team@example.com, 3 tests), read from '
                '"main"."people_model"') in shown.stdout
        assert "dbt tests: assert_scores_positive, not_null(email), unique(email)" in shown.stdout
        assert check(s.workspace, "people").rows == 3


def test_a_manifest_written_again_is_read_again_by_the_same_process(tmp_path, monkeypatch):
    """The parsed manifest is kept between loads (the dashboard reloads the workspace on every rerun), but only
    as long as the file is the same."""
    with dbt_workspace(tmp_path, monkeypatch) as s:
        assert s.workspace.models["people"].dbt.owner == "crm-team@example.com"
        write_project(s.root, owner="growth@example.com")  # `dbt parse` after the owner changed
        assert s.workspace.models["people"].dbt.owner == "growth@example.com"


def test_the_target_path_of_the_project_or_the_environment_is_followed(tmp_path, monkeypatch):
    with dbt_workspace(tmp_path, monkeypatch) as s:
        project = s.root / "dbt"
        (project / "target").rename(project / "build")
        with (project / "dbt_project.yml").open("a") as f:
            f.write("target-path: build\n")
        assert s.workspace.models["people"].dbt.columns == ("email", "name", "score")
        (project / "build").rename(project / "elsewhere")
        monkeypatch.setenv("DBT_TARGET_PATH", "elsewhere")  # as dbt reads it: over the project's target-path
        assert s.workspace.models["people"].dbt.columns == ("email", "name", "score")


def test_an_unreadable_catalog_says_to_write_it_again(tmp_path, monkeypatch):
    with dbt_workspace(tmp_path, monkeypatch) as s:
        (s.root / "dbt" / "target" / "catalog.json").write_text('{"nodes": ')
        message = config_error(s)
        assert "catalog.json cannot be read as JSON" in message and "run the dbt command that writes it" in message


def test_a_missing_manifest_says_to_run_dbt_compile(tmp_path, monkeypatch):
    with dbt_workspace(tmp_path, monkeypatch) as s:
        (s.root / "dbt" / "target" / "manifest.json").unlink()
        message = config_error(s)
        assert "models.people.dbt" in message and "dbt model 'people_model'" in message
        assert "no compiled manifest" in message and "`dbt compile`" in message and "`dbt parse`" in message
        done = cli(s.root, "model", "preview", "people")
        assert done.returncode == 2 and "`dbt compile`" in done.stderr and "Traceback" not in done.stderr


def test_a_workspace_without_dbt_project_says_to_set_it(tmp_path, monkeypatch):
    with dbt_workspace(tmp_path, monkeypatch) as s:
        edit_workspace(s, '[workspace]\ndbt_project = "dbt"\n', "")
        assert "[workspace] has no `dbt_project`" in config_error(s)


def test_an_unknown_model_suggests_close_names(tmp_path, monkeypatch):
    with dbt_workspace(tmp_path, monkeypatch, model="people_modl", extra_models=("orders",)) as s:
        message = config_error(s)
        assert "dbt project 'shop' has no model 'people_model'" in message
        assert "Did you mean 'people_modl'?" in message and "orders" not in message


def test_a_disabled_model_is_named_as_disabled(tmp_path, monkeypatch):
    with dbt_workspace(tmp_path, monkeypatch, enabled=False) as s:
        message = config_error(s)
        assert "dbt model 'people_model' is disabled" in message and "models/people_model.sql" in message


def test_an_ephemeral_model_has_nothing_to_read(tmp_path, monkeypatch):
    with dbt_workspace(tmp_path, monkeypatch, materialized="ephemeral") as s:
        message = config_error(s)
        assert "dbt model 'people_model' is ephemeral" in message and "`dbt run --select people_model`" in message


def test_a_manifest_of_another_project_is_refused(tmp_path, monkeypatch):
    with dbt_workspace(tmp_path, monkeypatch) as s:
        (s.root / "dbt" / "dbt_project.yml").write_text("name: warehouse_marts\nconfig-version: 2\n")
        message = config_error(s)
        assert "written for dbt project 'shop', not 'warehouse_marts'" in message and "`dbt compile`" in message


def test_a_model_changed_since_the_manifest_is_stale(tmp_path, monkeypatch):
    with dbt_workspace(tmp_path, monkeypatch) as s:
        sql = s.root / "dbt" / "models" / "people_model.sql"
        sql.write_text(sql.read_text().replace("score > 0", "score > 4"))
        message = config_error(s)
        assert "models/people_model.sql changed since manifest.json was written" in message
        assert "the manifest is stale" in message and "`dbt compile`" in message
        # The workspace still opens: `syncs` says what is wrong, and a run fails as a config error, sending nothing
        listed = cli(s.root, "syncs")
        assert listed.returncode == 0 and "WARNING: " in listed.stdout and "the manifest is stale" in listed.stdout
        [row] = json.loads(cli(s.root, "syncs", "--json").stdout)
        assert "the manifest is stale" in row["dbt_problem"]
        record = s.run()
        assert record.status == "failed" and record.error_class == "config" and "models.people.dbt" in record.error
        assert s.sandbox.requests() == []


def test_without_a_checksum_a_model_newer_than_the_manifest_is_stale(tmp_path, monkeypatch):
    with dbt_workspace(tmp_path, monkeypatch, flavour="fusion", checksum=False) as s:
        manifest = s.root / "dbt" / "target" / "manifest.json"
        sql = s.root / "dbt" / "models" / "people_model.sql"
        os.utime(sql, (manifest.stat().st_mtime - 60,) * 2)
        assert load_workspace(s.root).models["people"].dbt is not None  # older than the manifest: fine
        os.utime(sql, (manifest.stat().st_mtime + 60,) * 2)
        assert "models/people_model.sql is newer than manifest.json (the manifest is stale)" in config_error(s)


def test_a_primary_key_the_model_lacks_is_named_with_its_columns(tmp_path, monkeypatch):
    with dbt_workspace(tmp_path, monkeypatch, catalog_columns=["user_id", "name", "score"]) as s:
        message = config_error(s)
        assert "dbt model 'people_model' has no column 'email', the model's primary_key" in message
        assert "user_id, name, score" in message


def test_a_relation_absent_from_the_warehouse_says_to_run_dbt_run(tmp_path, monkeypatch):
    with dbt_workspace(tmp_path, monkeypatch, materialise=False) as s:
        with pytest.raises(ModelError) as raised:
            preview(s.workspace, "people")
        assert "dbt model 'people_model' should be materialised as \"main\".\"people_model\"" in str(raised.value)
        assert "`dbt run --select people_model`" in str(raised.value)
        record = s.run()
        assert record.status == "failed" and "`dbt run --select people_model`" in record.error


def test_a_model_gives_one_of_sql_table_or_dbt(tmp_path, monkeypatch):
    with dbt_workspace(tmp_path, monkeypatch) as s:
        edit_workspace(s, 'dbt = "people_model"', 'dbt = "people_model"\nsql = "SELECT 1"')
        with pytest.raises(ConfigError, match="give one of `sql`, `table` \\(with `columns`\\) or `dbt`"):
            load_workspace(s.root)


def test_on_snowflake_a_dbt_model_reads_its_relation_name_and_a_missing_one_says_dbt_run(tmp_path, monkeypatch):
    """The emulator over the real connector: the relation as dbt-snowflake names it (unquoted, so upper-cased)."""
    with snowflake_emulator() as emulator:
        db = emulator.database(["CREATE TABLE PEOPLE_MODEL (EMAIL VARCHAR, NAME VARCHAR, SCORE NUMBER(38,0))",
                                "INSERT INTO PEOPLE_MODEL VALUES ('ana@x.io', 'Ana', 3), ('bob@x.io', 'Bob', 5)"])
        monkeypatch.setenv("DBT_TEST_PASSWORD", "any-password")
        with dbt_workspace(tmp_path, monkeypatch, materialise=False, database=db, schema="S",
                           relation_name=f"{db}.S.people_model", catalog_columns=["EMAIL", "NAME", "SCORE"]) as s:
            toml = s.root / "workspace.toml"
            toml.write_text(re.sub(r"^sources\.wh = .*$", emulator.source_line(db, password_env="DBT_TEST_PASSWORD"),
                                   toml.read_text(), flags=re.M))
            assert s.workspace.models["people"].sql == f"SELECT * FROM {db}.S.people_model"
            assert {r["email"] for r in preview(s.workspace, "people").to_pylist()} == {"ana@x.io", "bob@x.io"}

            emulator.sql(db, "DROP TABLE PEOPLE_MODEL")
            with pytest.raises(ModelError) as raised:
                preview(s.workspace, "people")
            assert f"should be materialised as {db}.S.people_model" in str(raised.value)
            assert "`dbt run --select people_model`" in str(raised.value)


def cli(root, *args):
    return subprocess.run([sys.executable, "-m", "sync_core.cli", "-w", str(root), *args], capture_output=True,
                          text=True, timeout=180, env={**os.environ})
