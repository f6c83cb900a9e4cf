"""A model looked at before its first sync: its first rows (`preview`), and its columns, row count and keys
(`check`): null and duplicate primary keys, and keys that name one destination record, compared as the planner
compares them (planner.py: keys trimmed; identifiers by the destination's IdentifierRule).

Both run the model's own SQL, wrapped (`SELECT ... FROM (<model>) LIMIT n`), on its source, DuckDB or Snowflake."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace

import duckdb
import pyarrow as pa

from .config import ConfigError, ModelConfig, Workspace
from .destinations.base import WHITESPACE, trimmed_sql
from .destinations.catalog import DESTINATION_TYPES
from .hashing import quote
from .sources import open_source
from .sources.snowflake_sql import checked_query, to_duckdb

EXAMPLES = 5


@dataclass(frozen=True)
class SharedIdentifiers:
    """Keys of a model that name one record of a sync's destination (Bob@x.io and bob@x.io: one Iterable user)."""
    sync: str
    compared: str  # how the destination compares them: "trimmed, without letter case"
    identifiers: int  # identifiers named by more than one key
    rows: int  # rows holding them
    examples: list[str]


@dataclass(frozen=True)
class ModelCheck:
    model: str
    source: str
    primary_key: str
    columns: list[tuple[str, str]]  # (name, type)
    rows: int
    null_keys: int  # rows whose key is null or empty once trimmed
    duplicate_keys: int  # key values held by more than one row
    duplicate_rows: int  # rows holding them
    duplicate_examples: list[str]
    shared: list[SharedIdentifiers]

    @property
    def ok(self) -> bool:
        """Every row would reach its destination under its own key (the planner rejects the others)."""
        return not (self.null_keys or self.duplicate_keys or any(s.identifiers for s in self.shared))

    def to_json(self) -> dict:
        return {"model": self.model, "source": self.source, "primary_key": self.primary_key, "ok": self.ok,
                "columns": [{"name": n, "type": t} for n, t in self.columns], "rows": self.rows,
                "null_keys": self.null_keys, "duplicate_keys": self.duplicate_keys,
                "duplicate_rows": self.duplicate_rows, "duplicate_examples": self.duplicate_examples,
                "shared_identifiers": [s.__dict__ for s in self.shared]}


def model_named(workspace: Workspace, name: str) -> ModelConfig:
    if name not in workspace.models:
        hint = difflib.get_close_matches(name, list(workspace.models), n=1)
        raise ConfigError(workspace.file, f"models.{name}", f"no model '{name}' (models: "
                          f"{', '.join(workspace.models) or 'none'}).{f' Did you mean {hint[0]!r}?' if hint else ''}")
    return workspace.models[name]


def preview(workspace: Workspace, name: str, limit: int = 10) -> pa.Table:
    """The model's first `limit` rows, as its source returns them (column names lower-case)."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    model = model_named(workspace, name)
    source = open_source(workspace.sources[model.source])
    first = _wrapped(model, f"SELECT * FROM ({{query}}) AS preview LIMIT {int(limit)}")
    batches = list(source.batches(first))
    return pa.Table.from_batches(batches, None if batches else source.schema(first))


def check(workspace: Workspace, name: str) -> ModelCheck:
    model = model_named(workspace, name)
    source = open_source(workspace.sources[model.source])
    schema = source.schema(model)
    columns = {f.name.lower(): f for f in schema}
    if model.primary_key.lower() not in columns:
        raise ConfigError(workspace.file, f"models.{name}.primary_key",
                          f"column '{model.primary_key}' is not returned by model '{name}' "
                          f"(columns: {', '.join(columns)})")
    syncs = [s for s in workspace.syncs.values() if s.model == name and s.match_column.lower() in columns]
    wanted = list(dict.fromkeys([model.primary_key.lower()] + [s.match_column.lower() for s in syncs]))
    narrow = _wrapped(model, f"SELECT {', '.join(wanted)} FROM ({{query}}) AS model")
    with duckdb.connect() as con:
        con.execute("SET enable_progress_bar = false")  # DuckDB would draw it on stdout, in --json output
        with source.scan(con, narrow) as rows:
            named = {n.lower(): n for n, *_ in con.execute(f"DESCRIBE SELECT * FROM {rows}").fetchall()}
            key = f"NULLIF({trimmed_sql(quote(named[model.primary_key.lower()]))}, '')"
            picked = ", ".join(f"{quote(named[c])} AS {quote(c)}" for c in wanted)
            con.execute(f"CREATE TEMP TABLE keys AS SELECT {key} AS _key, {picked} FROM {rows}")
        total, nulls = con.execute("SELECT COUNT(*), COUNT(*) - COUNT(_key) FROM keys").fetchone()
        con.execute("CREATE TEMP TABLE dups AS SELECT _key, COUNT(*) AS copies FROM keys WHERE _key IS NOT NULL "
                    "GROUP BY _key HAVING COUNT(*) > 1")
        dup_keys, dup_rows = con.execute("SELECT COUNT(*), COALESCE(SUM(copies), 0) FROM dups").fetchone()
        examples = [k for (k,) in con.execute(f"SELECT _key FROM dups ORDER BY copies DESC, _key "
                                              f"LIMIT {EXAMPLES}").fetchall()]
        shared = [_shared(con, workspace, sync) for sync in syncs]
    return ModelCheck(name, model.source, model.primary_key, [(f.name.lower(), str(f.type)) for f in schema],
                      total, nulls, dup_keys, int(dup_rows), examples, shared)


def null_key_query(workspace: Workspace, model: ModelConfig) -> str:
    """The query that finds the model's rows without a key as the planner counts them (null, or empty once
    trimmed of WHITESPACE, tabs and line breaks included), in its source's dialect, to run in the warehouse.
    The characters are written with CHR, which both dialects have (a tab inside a literal cannot be copied)."""
    key = model.primary_key  # as written: quoted, Snowflake would take it case-sensitive
    characters = " || ".join(f"CHR({ord(c)})" for c in WHITESPACE)
    wrapped = _wrapped(model, "SELECT * FROM ({query}) AS model WHERE " + key + " IS NULL OR "
                       f"TRIM(CAST({key} AS VARCHAR), {characters}) = ''")
    return to_duckdb(wrapped) if workspace.sources[model.source].type == "duckdb" else checked_query(wrapped)


def _shared(con: duckdb.DuckDBPyConnection, workspace: Workspace, sync) -> SharedIdentifiers:
    """Valid keys (not null, not duplicated) whose match values name one record of the sync's destination."""
    destination = workspace.destinations[sync.destination]
    rule = DESTINATION_TYPES[destination.type].objects[sync.object].load().rule_for(sync)
    ident = rule.sql(quote(sync.match_column.lower()))
    found = con.execute(f"""
        WITH idents AS (SELECT _key, {ident} AS _ident FROM keys
                        WHERE _key IS NOT NULL AND _key NOT IN (SELECT _key FROM dups))
        SELECT _ident, COUNT(*) FROM idents WHERE _ident <> '' GROUP BY _ident HAVING COUNT(DISTINCT _key) > 1
        ORDER BY COUNT(*) DESC, _ident""").fetchall()
    return SharedIdentifiers(sync.id, rule.compared, len(found), sum(n for _, n in found),
                             [i for i, _ in found[:EXAMPLES]])


def _wrapped(model: ModelConfig, template: str) -> ModelConfig:
    """The model's query inside another, under the model's own name (errors name the model). The query is
    checked as written first, so a syntax error points into the user's SQL, not the wrapper."""
    query = checked_query(model).strip().rstrip(";")
    return replace(model, sql=template.format(query=query), table=None, columns=())
