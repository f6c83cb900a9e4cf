"""Row hashes over canonical values, computed in-process by DuckDB over the rows' Arrow batches.

A row must hash the same whether it came from DuckDB or Snowflake, whose drivers hand back different
Arrow types for the same value (DECIMAL(38,0) vs BIGINT, TIMESTAMP_NTZ vs TIMESTAMP WITH TIME ZONE,
1.50 vs 1.5). So every value is first written in one canonical text form, tagged with its kind:
  s:<text>   n:<number, no trailing zeros>   b:true|false   d:YYYY-MM-DD
  t:YYYY-MM-DDTHH:MM:SS.ffffffZ (UTC; naive timestamps are taken as UTC)   j:<json>   null
and the hash is md5 over `field=value` pairs joined by a unit separator, in mapping order.

Snapshots and the MQR ledger store these values, so they must never change (tests/test_hashing.py holds
golden values): a change would resend every row and count every record of the period again.
"""

from __future__ import annotations

import re

_NUMERIC_INT = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                "UBIGINT", "UHUGEINT")
_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")
_SEPARATOR = "\x1f"


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _tagged(c: str, duckdb_type: str) -> tuple[str, str]:
    """(tag, DuckDB expression of the value's canonical text without its tag); the expression is NULL
    exactly when the value is."""
    t = duckdb_type.upper()
    decimal = _DECIMAL.fullmatch(t)
    if t in _NUMERIC_INT or (decimal and decimal[2] == "0"):
        return "n:", f"CAST({c} AS VARCHAR)"
    if decimal and int(decimal[2]) <= 9 and int(decimal[1]) - int(decimal[2]) <= 29:
        # Fits DECIMAL(38, 9): trimming its own text gives what the general case below gives, without the
        # 128-bit cast (the costliest value of a row).
        return "n:", f"rtrim(rtrim(CAST({c} AS VARCHAR), '0'), '.')"
    if t.startswith("DECIMAL") or t in ("DOUBLE", "FLOAT", "REAL"):
        # Through DECIMAL(38,9) so 1.50, 1.5 (double) and 1.500000000 all print alike, then trim zeros;
        # values too large for it keep their own text.
        fixed = f"rtrim(rtrim(CAST(TRY_CAST({c} AS DECIMAL(38, 9)) AS VARCHAR), '0'), '.')"
        return "n:", f"coalesce({fixed}, CAST({c} AS VARCHAR))"
    if t == "BOOLEAN":
        return "b:", f"CASE WHEN {c} THEN 'true' WHEN NOT {c} THEN 'false' END"
    if t == "DATE":
        return "d:", f"strftime({c}, '%Y-%m-%d')"
    if t.startswith("TIMESTAMP WITH TIME ZONE") or t == "TIMESTAMPTZ":
        return "t:", f"strftime(timezone('UTC', {c}), '%Y-%m-%dT%H:%M:%S.%fZ')"
    if t.startswith("TIMESTAMP"):
        return "t:", f"strftime(CAST({c} AS TIMESTAMP), '%Y-%m-%dT%H:%M:%S.%fZ')"
    if t in ("VARCHAR", "TEXT", "STRING") or t.startswith("VARCHAR"):
        return "s:", c
    return "j:", f"CAST(to_json({c}) AS VARCHAR)"  # lists, structs, JSON, intervals: their JSON text


def row_hash_sql(fields: list[tuple[str, str, str]]) -> str:
    """md5 over (field name, column, DuckDB type) triples, in the order given."""
    # One concat of `<separator>name=tag` || value pairs: the constant parts are literals, so a row costs one
    # string per field and one for the whole (1M rows: 0.7 s, against 1.0 s for nested concatenation).
    parts = []
    for i, (name, column, dtype) in enumerate(fields):
        tag, value = _tagged(quote(column), dtype)
        prefix = ("" if i == 0 else _SEPARATOR) + name + "="
        parts.append(f"coalesce({sql_string(prefix + tag)} || {value}, {sql_string(prefix + 'null')})")
    return f"md5(concat({', '.join(parts)}))"


def key_digest_sql(key: str) -> str:
    """The 63-bit digest of a key expression that the MQR ledger counts (NULL for a null key): md5's first 8
    bytes read little-endian (md5_number_upper), shifted into a signed BIGINT. Taken from md5_number, which
    computes the same bytes twice as fast."""
    return f"CAST((md5_number({key}) & 18446744073709551615) >> 1 AS BIGINT)"


def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
