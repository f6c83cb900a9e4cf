"""Iterable's JSON built column-wise in DuckDB SQL: a value as `iterable_value` and `json.dumps` write it
(records.py), as one expression over a column, so a million users are encoded without a Python loop.

Numbers, booleans and text follow the shared rules (destinations/json_sql.py); dates and times are Iterable's. The
parsed result equals what the Python path sends, which tests/destinations/test_iterable_json_sql.py checks type by
type. A type without an entry here returns None, and the sync takes the Python path for all its rows.
"""

from __future__ import annotations

import json

from ...hashing import sql_string
from ..base import trimmed_sql
from ..json_sql import INTEGERS, TIMESTAMPS, scalar_json_sql


def value_json_sql(column_sql: str, duckdb_type: str) -> str | None:
    """The JSON text of a non-null value, as Iterable takes it, or None for a type not encoded in SQL."""
    t = duckdb_type.upper()
    scalar = scalar_json_sql(column_sql, t)
    if scalar is not None:
        return scalar
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
