"""A Marketo custom activity built column-wise in DuckDB SQL: the JSON object `MarketoActivities.activity` writes
for a row (its activityDate, primaryAttributeValue and attributes, without the lead and type that send() adds once
they are known), as one expression over the plan's columns, so a run's activities are encoded without a Python loop.

Values follow `marketo_value` and `marketo_date` (activities.py): times as ISO 8601 in UTC to the second with a Z,
a DATE at midnight UTC, text as it is (activityDate trimmed), numbers and booleans as JSON numbers and booleans
(the shared rules: destinations/json_sql.py). The parsed result equals what the Python path sends,
which tests/destinations/test_marketo_json_sql.py checks type by type. A type without an entry returns None (TIME,
UUID, lists, structs, JSON: `json.dumps(default=str)` spells them in Python), and the sync takes the Python path.
"""

from __future__ import annotations

import json

from ...hashing import sql_string
from ..base import trimmed_sql
from ..json_sql import TIMESTAMPS, scalar_json_sql
from . import ACTIVITY_DATE, PRIMARY_ATTRIBUTE


def date_json_sql(column_sql: str, duckdb_type: str) -> str | None:
    """A non-null time as `marketo_date` writes it: `yyyy-MM-ddTHH:mm:ssZ` in UTC (the plan's session time zone
    is UTC, so a TIMESTAMP WITH TIME ZONE cast to TIMESTAMP is its UTC wall time); text trimmed, as given. Other
    types (a number as a date: Marketo refuses it) take the Python path."""
    t = duckdb_type.upper()
    if t in TIMESTAMPS:
        return f"'\"' || strftime(CAST({column_sql} AS TIMESTAMP), '%Y-%m-%dT%H:%M:%S') || 'Z\"'"
    if t == "DATE":
        return f"'\"' || strftime({column_sql}, '%Y-%m-%d') || 'T00:00:00Z\"'"
    if t == "VARCHAR":
        return f"to_json({trimmed_sql(column_sql)})"
    return None


def attribute_json_sql(column_sql: str, duckdb_type: str) -> str | None:
    """A non-null value as `marketo_value` writes it: times as dates, the rest by the shared rules."""
    t = duckdb_type.upper()
    if t in TIMESTAMPS or t == "DATE":
        return date_json_sql(column_sql, t)
    return scalar_json_sql(column_sql, t)


def activity_json_sql(columns: list[tuple[str, str, str]], null: dict[str, str]) -> str | None:
    """The activity as a JSON object: `columns` are (column SQL, DuckDB type, field), in the sync's order; the
    activityDate and primaryAttributeValue fields are members, every other field an attribute by its API name;
    `null[field]` is "omit" (a null leaves it out) or "clear" (sent as null). None when a type is not encoded."""
    members, attributes = [], []
    for column_sql, duckdb_type, field in columns:
        encode = date_json_sql if field == ACTIVITY_DATE else attribute_json_sql
        value = encode(column_sql, duckdb_type)
        if value is None:
            return None
        if field in (ACTIVITY_DATE, PRIMARY_ATTRIBUTE):
            head, tail, into = sql_string(json.dumps(field) + ": "), "", members
        else:
            head, tail, into = sql_string(f'{{"apiName": {json.dumps(field)}, "value": '), " || '}'", attributes
        if null.get(field, "omit") == "omit":
            into.append(f"CASE WHEN {column_sql} IS NOT NULL THEN {head} || {value}{tail} END")
        else:
            into.append(f"{head} || CASE WHEN {column_sql} IS NULL THEN 'null' ELSE {value} END{tail}")
    # concat_ws skips NULL members: an omitted field leaves neither its text nor a separator
    listed = f"'[' || concat_ws(', ', {', '.join(attributes)}) || ']'" if attributes else "'[]'"
    members.append(f"""'"attributes": ' || {listed}""")
    return f"'{{' || concat_ws(', ', {', '.join(members)}) || '}}'"
