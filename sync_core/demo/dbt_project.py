"""The demo's dbt project: the seed's own source is a dbt model (poc_pump_marketing_contact_namespace_detail), so
the demo ships a small dbt project whose model the first-namespace syncs read through `dbt = "..."`.

No dbt install is needed: this writes what `dbt run` and `dbt docs generate` would leave behind with dbt-duckdb:
the model's view in the warehouse, and target/manifest.json (schema v12) and target/catalog.json describing it.
A view follows the warehouse's tables, so `demo advance` needs no daily `dbt run`."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timezone
from pathlib import Path

import duckdb

PROJECT = "demo_marketing"
MODEL = "marketing_contact_namespace_detail"
FOLDER = "dbt"  # in the workspace; `[workspace] dbt_project` names it
DBT_VERSION = "1.10.6"
GROUP = "growth_analytics"
GROUP_OWNER = {"name": "Growth analytics", "email": "growth-data@example.com"}
DESCRIPTION = ("The first namespace each marketing contact created, one row per person (the seed's "
               "poc_pump_marketing_contact_namespace_detail).")
TESTS = (("not_null", "user_id"), ("unique", "user_id"), ("not_null", "first_namespace_id"))

PROJECT_YML = f"""\
name: {PROJECT}
version: "1.0.0"
config-version: 2
profile: {PROJECT}

model-paths: ["models"]
target-path: "target"

models:
  {PROJECT}:
    +materialized: view
"""

COMPILED_SQL = """\
select
    c.email,
    c.user_id,
    n.namespace_id as first_namespace_id,
    n.name as first_namespace_name,
    n.plan as first_namespace_plan,
    n.region as first_namespace_region,
    n.created_at as first_namespace_created_at,
    date_diff('day', c.created_at, n.created_at) as days_to_first_namespace
from marketing_contacts as c
join namespaces as n on n.created_by_user_id = c.user_id
where c.deleted_at is null
qualify row_number() over (partition by c.user_id order by n.created_at, n.namespace_id) = 1
"""

MODEL_SQL = "{{ config(materialized='view') }}\n\n-- " + DESCRIPTION + "\n" + COMPILED_SQL

SCHEMA_YML = f"""\
version: 2

groups:
  - name: {GROUP}
    owner:
      name: {GROUP_OWNER["name"]}
      email: {GROUP_OWNER["email"]}

models:
  - name: {MODEL}
    description: "{DESCRIPTION}"
    group: {GROUP}
    columns:
      - name: user_id
        data_tests: [not_null, unique]
      - name: first_namespace_id
        data_tests: [not_null]
"""


def write_dbt_project(root: Path, warehouse: Path) -> Path:
    """The project in `root/dbt`, its model materialised in `warehouse` (a DuckDB file), and its artifacts."""
    project = root / FOLDER
    (project / "models").mkdir(parents=True, exist_ok=True)
    (project / "dbt_project.yml").write_text(PROJECT_YML)
    (project / "models" / f"{MODEL}.sql").write_text(MODEL_SQL)
    (project / "models" / "schema.yml").write_text(SCHEMA_YML)
    with duckdb.connect(str(warehouse)) as con:  # `dbt run`
        con.execute(f"CREATE OR REPLACE VIEW main.{MODEL} AS {COMPILED_SQL}")
        columns = con.execute(f"DESCRIBE main.{MODEL}").fetchall()
    database = warehouse.stem  # dbt-duckdb's database: the file's name
    target = project / "target"
    target.mkdir(exist_ok=True)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    invocation = str(uuid.uuid4())
    (target / "manifest.json").write_text(json.dumps(_manifest(database, now, invocation), indent=1))
    (target / "catalog.json").write_text(json.dumps(_catalog(database, columns, now, invocation), indent=1))
    return project


def _model_id() -> str:
    return f"model.{PROJECT}.{MODEL}"


def _metadata(kind: str, version: str, now: str, invocation: str) -> dict:
    return {"dbt_schema_version": f"https://schemas.getdbt.com/dbt/{kind}/{version}.json", "dbt_version": DBT_VERSION,
            "generated_at": now, "invocation_id": invocation, "env": {}}


def _manifest(database: str, now: str, invocation: str) -> dict:
    model_id = _model_id()
    relation = f'"{database}"."main"."{MODEL}"'
    model = {
        "database": database, "schema": "main", "name": MODEL, "resource_type": "model", "package_name": PROJECT,
        "path": f"{MODEL}.sql", "original_file_path": f"models/{MODEL}.sql", "unique_id": model_id,
        "fqn": [PROJECT, MODEL], "alias": MODEL,
        "checksum": {"name": "sha256", "checksum": hashlib.sha256(MODEL_SQL.encode()).hexdigest()},
        "config": {"enabled": True, "alias": None, "schema": None, "database": None, "tags": [], "meta": {},
                   "group": GROUP, "materialized": "view", "persist_docs": {}, "quoting": {}, "column_types": {},
                   "full_refresh": None, "unique_key": None, "on_schema_change": "ignore", "grants": {},
                   "packages": [], "docs": {"show": True, "node_color": None},
                   "contract": {"enforced": False, "alias_types": True}, "access": "protected"},
        "tags": [], "description": DESCRIPTION,
        "columns": {c: {"name": c, "description": "", "meta": {}, "data_type": None, "constraints": [],
                        "quote": None, "tags": [], "granularity": None, "doc_blocks": []}
                    for c in ("user_id", "first_namespace_id")},
        "meta": {}, "group": GROUP, "docs": {"show": True, "node_color": None},
        "patch_path": f"{PROJECT}://models/schema.yml", "build_path": None,
        "unrendered_config": {"materialized": "view"}, "created_at": datetime.now(timezone.utc).timestamp(),
        "relation_name": relation, "raw_code": MODEL_SQL, "doc_blocks": [], "language": "sql", "refs": [],
        "sources": [], "metrics": [], "functions": [], "depends_on": {"macros": ["macro.dbt.config"], "nodes": []},
        "compiled_path": f"target/compiled/{PROJECT}/models/{MODEL}.sql", "compiled": True,
        "compiled_code": COMPILED_SQL, "extra_ctes_injected": True, "extra_ctes": [],
        "contract": {"enforced": False, "alias_types": True, "checksum": None}, "access": "protected",
        "constraints": [], "version": None, "latest_version": None, "deprecation_date": None,
        "primary_key": ["user_id"], "time_spine": None}
    nodes = {model_id: model}
    for test, column in TESTS:
        name = f"{test}_{MODEL}_{column}"
        test_id = f"test.{PROJECT}.{name}.{hashlib.md5(name.encode()).hexdigest()[:10]}"
        nodes[test_id] = {
            "database": database, "schema": "main_dbt_test__audit", "name": name, "resource_type": "test",
            "package_name": PROJECT, "path": f"{name}.sql", "original_file_path": "models/schema.yml",
            "unique_id": test_id, "fqn": [PROJECT, name], "alias": name, "checksum": {"name": "none", "checksum": ""},
            "config": {"enabled": True, "materialized": "test", "severity": "ERROR", "meta": {}, "tags": []},
            "tags": [], "description": "", "columns": {}, "meta": {}, "group": GROUP, "relation_name": None,
            "raw_code": f"{{{{ test_{test}(**_dbt_generic_test_kwargs) }}}}", "language": "sql",
            "refs": [{"name": MODEL, "package": None, "version": None}], "sources": [], "metrics": [],
            "depends_on": {"macros": [f"macro.dbt.test_{test}"], "nodes": [model_id]},
            "column_name": column, "file_key_name": f"models.{MODEL}", "attached_node": model_id,
            "test_metadata": {"name": test, "kwargs": {
                "column_name": column, "model": f"{{{{ get_where_subquery(ref('{MODEL}')) }}}}"}, "namespace": None}}
    tests = sorted(n for n in nodes if n != model_id)
    return {
        "metadata": {**_metadata("manifest", "v12", now, invocation), "project_name": PROJECT,
                     "project_id": hashlib.md5(PROJECT.encode()).hexdigest(), "user_id": None,
                     "send_anonymous_usage_stats": False, "adapter_type": "duckdb",
                     "quoting": {"database": True, "schema": True, "identifier": True, "column": None}},
        "nodes": nodes, "sources": {}, "macros": {}, "docs": {}, "exposures": {}, "metrics": {},
        "groups": {f"group.{PROJECT}.{GROUP}": {
            "name": GROUP, "resource_type": "group", "package_name": PROJECT, "path": "schema.yml",
            "original_file_path": "models/schema.yml", "unique_id": f"group.{PROJECT}.{GROUP}",
            "owner": GROUP_OWNER, "description": None, "config": {"meta": {}}}},
        "selectors": {}, "disabled": {},
        "parent_map": {model_id: [], **{t: [model_id] for t in tests}},
        "child_map": {model_id: tests, **{t: [] for t in tests}},
        "group_map": {GROUP: [model_id]}, "saved_queries": {}, "semantic_models": {}, "unit_tests": {},
        "functions": {}}


def _catalog(database: str, columns: list[tuple], now: str, invocation: str) -> dict:
    model_id = _model_id()
    return {
        "metadata": _metadata("catalog", "v1", now, invocation),
        "nodes": {model_id: {
            "metadata": {"type": "VIEW", "schema": "main", "name": MODEL, "database": database, "comment": None,
                         "owner": None},
            "columns": {name: {"type": kind, "index": i, "name": name, "comment": None}
                        for i, (name, kind, *_) in enumerate(columns, start=1)},
            "stats": {"has_stats": {"id": "has_stats", "label": "Has Stats?", "value": False, "include": False,
                                    "description": "Indicates whether there are statistics for this table"}},
            "unique_id": model_id}},
        "sources": {}, "errors": None}
