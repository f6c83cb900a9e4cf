"""A small dbt project on disk, its artifacts written in the shapes dbt-core 1.6 to 1.10 (manifest v10 to v12)
and dbt-fusion (v20, nulls where core writes empty values) write them, for tests of models from dbt. Only the
fields sync_core reads vary here; the rest follow the real files.

In its own module (not conftest.py) so that tests import it by a name no other conftest.py shadows."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

# flavour -> (manifest schema version, dbt_version)
FLAVOURS = {"core-1.6": ("v10", "1.6.9"), "core-1.7": ("v11", "1.7.19"), "core-1.10": ("v12", "1.10.6"),
            "fusion": ("v20", "2.0.0-preview.218")}
MODEL_SQL = "{{ config(materialized='table') }}\nselect email, name, score from people where score > 0\n"


def write_project(root: Path, *, flavour: str = "core-1.10", project: str = "shop", model: str = "people_model",
                  materialized: str = "table", schema: str = "main", database: str = "wh", alias: str | None = None,
                  owner: str | None = "crm-team@example.com", group_owner: dict | None = None,
                  catalog_columns: list[str] | None = ("email", "name", "score"), enabled: bool = True,
                  checksum: bool = True, relation_name: str | None = None, extra_models: tuple[str, ...] = ()) -> Path:
    """`root/dbt`: dbt_project.yml, models/<model>.sql, target/manifest.json and (unless catalog_columns is None)
    target/catalog.json. Returns the project folder."""
    version, dbt_version = FLAVOURS[flavour]
    fusion = flavour == "fusion"
    folder = root / "dbt"
    (folder / "models").mkdir(parents=True, exist_ok=True)
    (folder / "target").mkdir(exist_ok=True)
    (folder / "dbt_project.yml").write_text(f"name: {project}\nversion: '1.0'\nconfig-version: 2\nprofile: {project}\n")
    (folder / "models" / f"{model}.sql").write_text(MODEL_SQL)
    uid = f"model.{project}.{model}"
    meta = {"owner": owner} if owner else (None if fusion else {})
    node = {
        "database": database, "schema": schema, "name": model, "resource_type": "model", "package_name": project,
        "path": f"{model}.sql", "original_file_path": f"models/{model}.sql", "unique_id": uid,
        "fqn": [project, model], "alias": alias or model,
        "checksum": ({"name": "sha256", "checksum": hashlib.sha256(MODEL_SQL.encode()).hexdigest()} if checksum
                     else None if fusion else {"name": "none", "checksum": ""}),
        "config": {"enabled": enabled, "materialized": materialized, "meta": meta, "group": None, "tags": []},
        "tags": [], "description": None if fusion else "", "columns": {}, "meta": meta,
        "group": "crm" if group_owner else None,
        "relation_name": relation_name or f'"{database}"."{schema}"."{alias or model}"',
        "raw_code": MODEL_SQL, "language": "sql", "refs": [], "sources": [],
        "depends_on": {"macros": [], "nodes": []}, "compiled_path": f"target/compiled/{project}/models/{model}.sql",
        "access": "protected", "constraints": [], "version": None, "latest_version": None}
    if version != "v10":
        node["deprecation_date"] = None
    tests = {}
    for test, column in (("not_null", "email"), ("unique", "email")):
        tid = f"test.{project}.{test}_{model}_{column}.abc123"
        tests[tid] = {"name": f"{test}_{model}_{column}", "resource_type": "test", "package_name": project,
                      "unique_id": tid, "attached_node": uid, "column_name": column,
                      "test_metadata": {"name": test, "kwargs": {"column_name": column}},
                      "depends_on": {"macros": [f"macro.dbt.test_{test}"], "nodes": [uid]},
                      "config": {"enabled": True, "severity": "ERROR"}}
    singular = f"test.{project}.assert_scores_positive"
    tests[singular] = {"name": "assert_scores_positive", "resource_type": "test", "package_name": project,
                       "unique_id": singular, "depends_on": {"macros": [], "nodes": [uid]},
                       **({} if version == "v10" else {"attached_node": None})}
    nodes = {**tests}
    disabled = {}
    if enabled:
        nodes[uid] = node
    else:
        disabled[uid] = [node]
    for other in extra_models:
        nodes[f"model.{project}.{other}"] = {**node, "name": other, "unique_id": f"model.{project}.{other}",
                                             "alias": other, "original_file_path": f"models/{other}.sql"}
        (folder / "models" / f"{other}.sql").write_text(MODEL_SQL)
    manifest = {
        "metadata": {"dbt_schema_version": f"https://schemas.getdbt.com/dbt/manifest/{version}.json",
                     "dbt_version": dbt_version, "generated_at": "2026-12-01T08:00:00.000000Z",
                     "invocation_id": "00000000-0000-0000-0000-000000000000", "env": {}, "project_name": project,
                     "project_id": hashlib.md5(project.encode()).hexdigest(), "adapter_type": "duckdb"},
        "nodes": nodes, "sources": {}, "macros": {}, "docs": {}, "exposures": {}, "metrics": {},
        "groups": ({f"group.{project}.crm": {"name": "crm", "resource_type": "group", "package_name": project,
                                             "unique_id": f"group.{project}.crm", "owner": group_owner}}
                   if group_owner else {}),
        "selectors": {}, "disabled": disabled, "parent_map": {}, "child_map": {}, "group_map": {},
        "semantic_models": {}, **({} if version == "v10" else {"saved_queries": {}}),
        **({"unit_tests": {}} if version in ("v12", "v20") else {})}
    (folder / "target" / "manifest.json").write_text(json.dumps(manifest))
    if catalog_columns is not None:
        catalog = {"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/catalog/v1.json",
                                "dbt_version": dbt_version, "generated_at": "2026-12-01T08:00:00Z", "env": {}},
                   "nodes": {uid: {"metadata": {"type": "BASE TABLE", "schema": schema, "name": alias or model,
                                                "database": database, "comment": None, "owner": None},
                                   "columns": {c: {"type": "VARCHAR", "index": i, "name": c, "comment": None}
                                               for i, c in enumerate(catalog_columns, start=1)},
                                   "stats": {}, "unique_id": uid}},
                   "sources": {}, "errors": None}
        (folder / "target" / "catalog.json").write_text(json.dumps(catalog))
    return folder
