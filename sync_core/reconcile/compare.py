"""The comparison itself, as set work in the plan's DuckDB: the model's valid rows (with what the snapshot says
of each) joined to the destination's records by identifier, field by field, with values normalised the way the
sync sends them. No Python loop touches every row; only the rows that differ reach Python.

Normalisation (stated in every report, NORMALISATION): the destination's value is read as JSON and compared
with the model's by the model column's type."""

from __future__ import annotations

from ..destinations.base import IdentifierRule, ReadBackField
from ..hashing import quote, sql_string

NORMALISATION = (
    "numbers compare by value (1 = 1.0; a DECIMAL as the double it is sent as), and a number stored as text "
    "differs; booleans compare as booleans; timestamps compare as UTC instants to the second (as the sync sends "
    "them: to Iterable `yyyy-MM-dd HH:mm:ss +00:00`, to Marketo `yyyy-MM-ddTHH:mm:ssZ`; naive ones as UTC) and "
    "dates as dates; text compares exactly (values are sent untrimmed); a null the sync clears matches a null or "
    "absent field, and a null the sync omits is not compared (the destination keeps its value); identifiers "
    "compare as the destination compares them")

_NUMBER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                 "UBIGINT", "FLOAT", "DOUBLE", "REAL")
_JSON_NUMBERS = "('BIGINT', 'UBIGINT', 'DOUBLE', 'HUGEINT')"


def field_match_sql(model_sql: str, dest_sql: str, duckdb_type: str, null_policy: str) -> str:
    """A DuckDB expression: the model's value (of `duckdb_type`) and the destination's (JSON, NULL when the
    record lacks the field) count as equal."""
    t = duckdb_type.upper()
    text = f"({dest_sql} ->> '$')"
    kind = f"json_type({dest_sql})"
    if t in _NUMBER_TYPES or t.startswith("DECIMAL"):
        equal = f"({kind} IN {_JSON_NUMBERS} AND CAST({dest_sql} AS DOUBLE) = CAST({model_sql} AS DOUBLE))"
    elif t == "BOOLEAN":
        equal = f"({kind} = 'BOOLEAN' AND CAST({dest_sql} AS BOOLEAN) = {model_sql})"
    elif t == "DATE":
        equal = f"({kind} = 'VARCHAR' AND CAST(TRY_CAST({_instant(text)} AS TIMESTAMPTZ) AS DATE) = {model_sql})"
    elif t.startswith("TIMESTAMP"):
        equal = (f"({kind} = 'VARCHAR' AND TRY_CAST({_instant(text)} AS TIMESTAMPTZ) = "
                 f"date_trunc('second', CAST({model_sql} AS TIMESTAMPTZ)))")
    elif t == "VARCHAR":
        equal = f"({kind} = 'VARCHAR' AND {text} = {model_sql})"
    else:  # lists, structs, JSON: as the JSON the sync sends
        equal = f"(CAST({dest_sql} AS VARCHAR) = CAST(to_json({model_sql}) AS VARCHAR))"
    absent = f"({dest_sql} IS NULL OR {kind} = 'NULL')"
    when_null = "TRUE" if null_policy == "omit" else absent
    return f"(CASE WHEN {model_sql} IS NULL THEN {when_null} ELSE coalesce({equal}, FALSE) END)"


def _instant(text_sql: str) -> str:
    """`2024-01-02 03:04:05 +00:00` (the sync's form) as DuckDB reads an offset: without the space."""
    return f"replace({text_sql}, ' +', '+')"


def type_note_sql(dest_sql: str, duckdb_type: str) -> str:
    """A DuckDB expression: why a differing destination value is of another type than the model's, else NULL."""
    t = duckdb_type.upper()
    kind = f"json_type({dest_sql})"
    if t in _NUMBER_TYPES or t.startswith("DECIMAL"):
        return (f"CASE WHEN {kind} = 'VARCHAR' THEN 'a number in the model, text in the destination' "
                f"WHEN {kind} = 'BOOLEAN' THEN 'a number in the model, a boolean in the destination' END")
    if t == "BOOLEAN":
        return f"CASE WHEN {kind} = 'VARCHAR' THEN 'a boolean in the model, text in the destination' END"
    if t == "VARCHAR":
        return (f"CASE WHEN {kind} IN {_JSON_NUMBERS} THEN 'text in the model, a number in the destination' "
                f"WHEN {kind} = 'BOOLEAN' THEN 'text in the model, a boolean in the destination' END")
    return "CAST(NULL AS VARCHAR)"


def destination_columns(label: str, fields: list[str]) -> str:
    """read_json's `columns`: the identifier as text, each field as JSON (its type kept for the comparison)."""
    pairs = [f"{sql_string(label)}: 'VARCHAR'"] + [f"{sql_string(f)}: 'JSON'" for f in fields if f != label]
    return "{" + ", ".join(pairs) + "}"


def model_value(f: ReadBackField, types: dict[str, str], person: IdentifierRule) -> tuple[str, str]:
    """(a DuckDB expression over the model row `m`, its DuckDB type): the value the sync sends for a field."""
    if f.column is None:
        return sql_string(f.fixed or ""), "VARCHAR"
    column = "m." + quote(f.column.lower())
    if f.identifier:
        return person.sql(column), "VARCHAR"
    if f.instant:  # as the sync reads it: naive times are UTC (the plan's time zone), text is ISO
        return f"TRY_CAST({column} AS TIMESTAMPTZ)", "TIMESTAMPTZ"
    return column, types[f.column.lower()]


def compared_sql(fields: list[ReadBackField], types: dict[str, str], person: IdentifierRule, ident_sql: str,
                 join_on: str | None = None) -> str:
    """The table `compared`: one row per valid model row, its identifier, whether the snapshot holds it and
    with the model's hash (`sent`: the destination was sent today's values), whether the destination holds it
    (`present`), and per field `_ok_<i>` (the values match), `_m_<i>`/`_d_<i>` (both values as text) and
    `_note_<i>` (a type difference). `join_on` joins `destination d` to the row (`p`, `v`): by identifier unless
    told (record_ids.JOIN_ON)."""
    parts = []
    for i, f in enumerate(fields):
        model_sql, kind = model_value(f, types, person)
        dest_sql = "d." + quote(f.field)
        parts.append(f"{field_match_sql(model_sql, dest_sql, kind, f.null)} AS _ok_{i}, "
                     f"CAST({model_sql} AS VARCHAR) AS _m_{i}, CAST({dest_sql} AS VARCHAR) AS _d_{i}, "
                     f"{type_note_sql(dest_sql, kind)} AS _note_{i}")
    return f"""
        CREATE OR REPLACE TABLE compared AS
        SELECT p._key, v._ident, s.key IS NOT NULL AS in_snapshot, coalesce(s.row_hash = m._hash, FALSE) AS sent,
               d._ident IS NOT NULL AS present, {', '.join(parts)}
        FROM planned p JOIN model_rows m ON m.rowid = p._ord
        JOIN (SELECT p2._ord, {ident_sql} AS _ident FROM planned p2 JOIN model_rows m ON m.rowid = p2._ord) v
             ON v._ord = p._ord
        LEFT JOIN snap s ON s.key = p._key
        LEFT JOIN destination d ON {join_on or 'd._ident = v._ident'}"""
