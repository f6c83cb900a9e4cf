"""JSON values built column-wise in DuckDB SQL, the rules every destination shares: a number, a boolean or text as
`json.dumps` writes the value Python hands it, as one expression over a column, so a million rows are encoded
without a Python loop. Times are each vendor's own (iterable/json_sql.py, marketo/json_sql.py).

Each expression yields the JSON text of a non-null value. Text keeps its non-ASCII characters as UTF-8 (the Python
path escapes them): requests are sized in bytes, not characters. A type without an entry returns None, and the
sync takes the Python path for all its rows.
"""

from __future__ import annotations

INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
            "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT")
# DuckDB's session time zone is UTC in the plan (planner.build_plan), so a TIMESTAMP WITH TIME ZONE cast to
# TIMESTAMP is its UTC wall time, as Python's astimezone(timezone.utc) gives it.
TIMESTAMPS = ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATETIME",
              "TIMESTAMPTZ")


def scalar_json_sql(column_sql: str, duckdb_type: str) -> str | None:
    """The JSON text of a non-null number, boolean or text value, or None for any other type."""
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
    return None
