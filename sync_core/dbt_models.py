"""Models from dbt: `dbt = "model_name"` in a model of workspace.toml, resolved from the compiled artifacts of the
workspace's dbt project (`[workspace] dbt_project`) to the relation the model materialises in the warehouse.

Only the artifacts are read (target/manifest.json, and target/catalog.json for the warehouse's columns when
`dbt docs generate` wrote it): no dbt install is needed, and nothing is compiled here. Manifests of dbt-core 1.6 and
newer (schema v10 to v12) and of dbt-fusion (v12 or v20, where `meta`, descriptions and checksums may be null) are
read alike. Every problem is a ConfigError naming the workspace key, the dbt model and the dbt command that fixes it.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import ConfigError, ModelError

PROJECT_FILE = "dbt_project.yml"
OLDEST_MANIFEST = 10  # dbt-core 1.6
_VERSION = re.compile(r"/manifest/v(\d+)\.json$")


@dataclass(frozen=True)
class DbtModel:
    """What a sync needs to know of a dbt model: where it materialises, and what to show beside it."""
    name: str
    unique_id: str
    project: str
    database: str | None
    schema: str
    identifier: str  # the alias, or the name when there is none
    materialized: str
    description: str
    owner: str | None  # meta.owner, else the owner of the model's group
    tests: tuple[str, ...]  # "not_null(email)", "unique(email)", a singular test's name
    columns: tuple[str, ...]  # the warehouse's, from catalog.json; () without a catalog entry
    relation_name: str | None  # as the adapter quotes it (manifest's relation_name)
    manifest: Path

    def relation(self, source_type: str) -> str:
        """The relation as the source names it. The DuckDB source reads the file dbt wrote (its database is the
        one it opens), so it leaves the database out; Snowflake takes the adapter's own quoting."""
        if source_type == "duckdb":
            return ".".join(_quoted(p) for p in (self.schema, self.identifier))
        if self.relation_name:
            return self.relation_name
        return ".".join(p for p in (self.database, self.schema, self.identifier) if p)

    def summary(self) -> str:
        """One line for listings: the model, its owner and how many tests guard it."""
        owner = f", owner {self.owner}" if self.owner else ""
        tests = f", {len(self.tests)} test{'s' if len(self.tests) != 1 else ''}" if self.tests else ", no tests"
        return f"dbt model {self.name} ({self.materialized}{owner}{tests})"

    def to_json(self) -> dict:
        return {"dbt_model": self.name, "dbt_project": self.project, "materialized": self.materialized,
                "description": self.description, "owner": self.owner, "tests": list(self.tests)}


@dataclass(frozen=True)
class _Project:
    root: Path
    name: str
    manifest: Path
    catalog: Path


def resolve(file: str, key: str, project_dir: Path | None, name: str, *, primary_key: str) -> DbtModel:
    """The dbt model `name` of the workspace's dbt project, checked: compiled, enabled, not ephemeral, not stale,
    and (when the catalog lists its columns) holding the primary key. `key` is the model's key in workspace.toml."""
    def fail(problem: str) -> ConfigError:
        return ConfigError(file, key, problem)

    if project_dir is None:
        raise fail(f"names dbt model '{name}', but [workspace] has no `dbt_project`: set it to the folder holding "
                   f"{PROJECT_FILE}")
    project = _project(project_dir, fail)
    manifest = _read_manifest(project, name, fail)
    node = _find(manifest, project, name, fail)
    model = _distil(manifest, project, node, fail)
    _check_fresh(project, model, node, fail)
    if model.columns and primary_key.lower() not in {c.lower() for c in model.columns}:
        raise fail(f"dbt model '{model.name}' has no column '{primary_key}', the model's primary_key (its columns, "
                   f"from {project.catalog.name}: {', '.join(model.columns)}). Set primary_key to one of them, or "
                   f"add the column to the model and run `dbt run --select {model.name}` then "
                   "`dbt docs generate`")
    return model


def missing_relation(model_name: str, source: str, dbt: DbtModel, source_type: str) -> ModelError:
    """The error of a query that found no relation where the dbt model should be materialised (the source
    recognises the warehouse's own error), told as what to run."""
    return ModelError(model_name, source, f"dbt model '{dbt.name}' should be materialised as "
                                          f"{dbt.relation(source_type)}, which the warehouse does not have (or this "
                                          f"source cannot read): run `dbt run --select {dbt.name}` against this "
                                          "warehouse, and check that the dbt target's database and schema are the "
                                          "ones this source reads")


# -- reading the project ---------------------------------------------------------------------------------------

def _project(root: Path, fail) -> _Project:
    file = root / PROJECT_FILE
    if not file.is_file():
        raise fail(f"the dbt project {root} has no {PROJECT_FILE}: point [workspace] dbt_project at the folder "
                   "holding it")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
        raise fail(f"{file} cannot be read as YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise fail(f"{file} has no project `name`: it does not read like a dbt project file")
    # dbt's own order: the environment's DBT_TARGET_PATH, then the project's target-path
    target = root / (os.environ.get("DBT_TARGET_PATH") or str(data.get("target-path") or "target"))
    return _Project(root, data["name"], target / "manifest.json", target / "catalog.json")


def _read_manifest(project: _Project, name: str, fail) -> dict:
    if not project.manifest.is_file():
        raise fail(f"dbt model '{name}': the dbt project '{project.name}' has no compiled manifest "
                   f"({project.manifest} is missing). Run `dbt compile` (or `dbt parse`) in {project.root}, and "
                   "`dbt docs generate` for the columns")
    manifest = _cached_json(project.manifest, fail)
    version = _schema_version(manifest)
    if version is not None and version < OLDEST_MANIFEST:
        raise fail(f"{project.manifest} is a v{version} manifest, written by dbt-core older than 1.6: run "
                   "`dbt parse` with dbt-core 1.6 or newer (or dbt-fusion)")
    named = (manifest.get("metadata") or {}).get("project_name")
    if named is None:  # manifests without the name in their metadata: the packages of their models tell
        packages = {n.get("package_name") for n in (manifest.get("nodes") or {}).values()}
        named = project.name if project.name in packages else None
    if named != project.name:
        raise fail(f"{project.manifest} was written for dbt project '{named}', not '{project.name}' "
                   f"({project.root / PROJECT_FILE}): run `dbt compile` in {project.root} to write its own")
    return manifest


_PARSED: dict[Path, tuple[tuple[int, int], dict]] = {}  # an artifact, parsed once per version of the file


def _cached_json(path: Path, fail) -> dict:
    """A manifest or a catalog can be tens of MB, and the workspace is loaded on every command and dashboard
    rerun."""
    stat = path.stat()
    version = (stat.st_mtime_ns, stat.st_size)
    if path not in _PARSED or _PARSED[path][0] != version:
        _PARSED[path] = (version, _json(path, fail))
    return _PARSED[path][1]


def _json(path: Path, fail) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise fail(f"{path} cannot be read as JSON ({exc}): run the dbt command that writes it again") from None
    if not isinstance(data, dict):
        raise fail(f"{path} is not a dbt artifact (a JSON object): run the dbt command that writes it again")
    return data


def _schema_version(manifest: dict) -> int | None:
    match = _VERSION.search(str((manifest.get("metadata") or {}).get("dbt_schema_version", "")))
    return int(match[1]) if match else None


def _find(manifest: dict, project: _Project, name: str, fail) -> dict:
    """The project's model called `name` (case-insensitive: dbt-fusion keeps the case it was written in); of a
    versioned model, its latest version."""
    def ours(node: dict) -> bool:
        return node.get("resource_type") == "model" and node.get("package_name") == project.name

    models = [n for n in (manifest.get("nodes") or {}).values() if isinstance(n, dict) and ours(n)]
    found = [n for n in models if str(n.get("name", "")).lower() == name.lower()]
    if not found:
        disabled = [n for copies in (manifest.get("disabled") or {}).values() for n in copies
                    if isinstance(n, dict) and ours(n) and str(n.get("name", "")).lower() == name.lower()]
        if disabled:
            raise fail(f"dbt model '{name}' is disabled in dbt project '{project.name}' (enabled: false in "
                       f"{disabled[0].get('original_file_path') or 'its config'}): enable it, then run "
                       f"`dbt run --select {name}`")
        names = sorted({str(n.get("name")) for n in models})
        hint = difflib.get_close_matches(name, names, n=3)
        suggestion = f" Did you mean {' or '.join(repr(h) for h in hint)}?" if hint else ""
        raise fail(f"dbt project '{project.name}' has no model '{name}' in {project.manifest}.{suggestion} "
                   "(If it is new, run `dbt compile` to write it into the manifest.)")
    if len(found) > 1:
        latest = [n for n in found if n.get("version") is not None and n.get("version") == n.get("latest_version")]
        found = latest or found
    node = found[0]
    materialized = str((node.get("config") or {}).get("materialized") or "view")
    if materialized == "ephemeral":
        raise fail(f"dbt model '{node.get('name')}' is ephemeral: dbt inlines it into other models and never "
                   "materialises it, so there is nothing to read. Set materialized to view or table, then run "
                   f"`dbt run --select {node.get('name')}`")
    return node


def _distil(manifest: dict, project: _Project, node: dict, fail) -> DbtModel:
    uid = node["unique_id"] if "unique_id" in node else f"model.{project.name}.{node['name']}"
    config = node.get("config") or {}
    meta = {**(config.get("meta") or {}), **(node.get("meta") or {})}
    owner = meta.get("owner")
    if not owner and node.get("group"):
        group = (manifest.get("groups") or {}).get(f"group.{project.name}.{node['group']}") or {}
        who = group.get("owner") or {}
        owner = who.get("name") or who.get("email")
        if who.get("name") and who.get("email"):
            owner = f"{who['name']} <{who['email']}>"
    return DbtModel(
        name=node["name"], unique_id=uid, project=project.name, database=node.get("database"),
        schema=str(node.get("schema") or ""), identifier=str(node.get("alias") or node.get("identifier")
                                                             or node["name"]),
        materialized=str(config.get("materialized") or "view"), description=str(node.get("description") or ""),
        owner=str(owner) if owner else None, tests=_tests(manifest, uid), columns=_catalog_columns(project, uid, fail),
        relation_name=node.get("relation_name"), manifest=project.manifest)


def _tests(manifest: dict, uid: str) -> tuple[str, ...]:
    """The data tests attached to the model, as "test_name(column)" (a singular test: its own name)."""
    labels = []
    for node in (manifest.get("nodes") or {}).values():
        if not isinstance(node, dict) or node.get("resource_type") != "test":
            continue
        attached = node.get("attached_node") or None
        if attached != uid and (attached or uid not in ((node.get("depends_on") or {}).get("nodes") or [])):
            continue
        generic = (node.get("test_metadata") or {}).get("name")
        column = node.get("column_name") or ((node.get("test_metadata") or {}).get("kwargs") or {}).get("column_name")
        labels.append(f"{generic}({column})" if generic and column else generic or str(node.get("name")))
    return tuple(sorted(set(labels)))


def _catalog_columns(project: _Project, uid: str, fail) -> tuple[str, ...]:
    """The model's columns as the warehouse has them (catalog.json, by `dbt docs generate`), in their order;
    none without a catalog, or one older than the model (the run reads the relation's own columns)."""
    if not project.catalog.is_file():
        return ()
    catalog = _cached_json(project.catalog, fail)
    columns = ((catalog.get("nodes") or {}).get(uid) or {}).get("columns") or {}
    ordered = sorted(columns.values(), key=lambda c: (c.get("index") or 0, str(c.get("name"))))
    return tuple(str(c.get("name")) for c in ordered if c.get("name"))


def _check_fresh(project: _Project, model: DbtModel, node: dict, fail) -> None:
    """The model's SQL as the manifest saw it: its checksum (sha256 of the file, as dbt computes it), or, for a
    manifest without one, a file no newer than the manifest."""
    relative = node.get("original_file_path")
    if not relative:
        return
    sql_file = project.root / relative
    rerun = f"run `dbt compile` (and `dbt run --select {model.name}`) in {project.root}"
    if not sql_file.is_file():
        raise fail(f"dbt model '{model.name}': the manifest names {relative}, which is not in the project any more "
                   f"(the manifest is stale): {rerun}")
    checksum = node.get("checksum") or {}
    if checksum.get("name") == "sha256" and checksum.get("checksum"):
        text = sql_file.read_bytes().decode("utf-8", "replace")
        digests = {hashlib.sha256(t.encode()).hexdigest() for t in (text, text.strip())}
        if checksum["checksum"] not in digests:
            raise fail(f"dbt model '{model.name}': {relative} changed since {project.manifest.name} was written "
                       f"(its checksum differs; the manifest is stale): {rerun}")
    elif sql_file.stat().st_mtime > project.manifest.stat().st_mtime:
        raise fail(f"dbt model '{model.name}': {relative} is newer than {project.manifest.name} (the manifest is "
                   f"stale): {rerun}")


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'

