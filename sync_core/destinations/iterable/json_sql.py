"""Iterable's JSON built column-wise in DuckDB SQL: a value as `iterable_value` and `json.dumps` write it
(records.py), as one expression over a column, so a million users are encoded without a Python loop.

Each expression yields the JSON text of the value (never NULL for a non-null value); the parsed result equals
what the Python path sends, which tests/destinations/test_iterable_json_sql.py checks type by type. Text keeps
its non-ASCII characters as UTF-8 (the Python path escapes them): requests are sized in bytes, not characters.
A type without an entry here returns None, and the sync takes the Python path for all its rows.
"""

from __future__ import annotations

import json

from ...hashing import sql_string
from ..base import trimmed_sql

INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
            "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT")
# DuckDB's session time zone is UTC in the plan (planner.build_plan), so a TIMESTAMP WITH TIME ZONE cast to
# TIMESTAMP is its UTC wall time, as Python's astimezone(timezone.utc) gives it.
TIMESTAMPS = ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATETIME",
              "TIMESTAMPTZ")


def value_json_sql(column_sql: str, duckdb_type: str) -> str | None:
    """The JSON text of a non-null value, as Iterable takes it, or None for a type not encoded in SQL."""
    t = duckdb_type.upper()
    if t == "VARCHAR":
        return f"to_json({column_sql})"
    if t in INTEGERS:
        return f"CAST({column_sql} AS VARCHAR)"
    if t == "BOOLEAN":
        return f"CASE WHEN {column_sql} THEN 'true' ELSE 'false' END"
    if t in ("DOUBLE", "FLOAT", "REAL"):  # a FLOAT widened exactly, as Arrow hands it to Python
        return f"to_json(CAST({column_sql} AS DOUBLE))"
    if t.startswith("DECIMAL"):  # integral -> a JSON integer, else the nearest double (as float(Decimal))
        return (f"CASE WHEN {column_sql} % 1 = 0 THEN CAST(CAST({column_sql} AS HUGEINT) AS VARCHAR) "
                f"ELSE to_json(CAST(CAST({column_sql} AS VARCHAR) AS DOUBLE)) END")
    if t == "DATE":  # strftime writes four-digit years (year 999 as 0999), as iterable_value does
        return f"'\"' || strftime({column_sql}, '%Y-%m-%d') || '\"'"
    if t in TIMESTAMPS:  # to the second, in UTC
        return f"'\"' || strftime(CAST({column_sql} AS TIMESTAMP), '%Y-%m-%d %H:%M:%S') || ' +00:00\"'"
    return None


def identifier_json_sql(column_sql: str, duckdb_type: str) -> str | None:
    """The identifier as sent: its text, trimmed of WHITESPACE (a padded email is invalid to Iterable)."""
    t = duckdb_type.upper()
    if t != "VARCHAR" and t not in INTEGERS:  # text of other types may differ from Python's str()
        return None
    return f"to_json({trimmed_sql(column_sql)})"


def fields_json_sql(columns: list[tuple[str, str, str]], null: dict[str, str]) -> str | None:
    """A JSON object of fields: `columns` are (column SQL, DuckDB type, field); `null[field]` is "omit" (a null
    value leaves the field out) or "clear" (sent as null)."""
    members = []
    for column_sql, duckdb_type, field in columns:
        value = value_json_sql(column_sql, duckdb_type)
        if value is None:
            return None
        name = sql_string(json.dumps(field) + ": ")
        if null.get(field, "omit") == "omit":
            members.append(f"CASE WHEN {column_sql} IS NOT NULL THEN {name} || {value} END")
        else:
            members.append(f"{name} || CASE WHEN {column_sql} IS NULL THEN 'null' ELSE {value} END")
    if not members:
        return "'{}'"
    # concat_ws skips NULL members: an omitted field leaves neither its text nor a separator
    return f"'{{' || concat_ws(', ', {', '.join(members)}) || '}}'"
