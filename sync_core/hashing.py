"""Row hashes over canonical values, computed in-process by DuckDB over the rows' Arrow batches.

A row must hash the same whether it came from DuckDB or Snowflake, whose drivers hand back different
Arrow types for the same value (DECIMAL(38,0) vs BIGINT, TIMESTAMP_NTZ vs TIMESTAMP WITH TIME ZONE,
1.50 vs 1.5). So every value is first written in one canonical text form, tagged with its kind:
  s:<text>   n:<number, no trailing zeros>   b:true|false   d:YYYY-MM-DD
  t:YYYY-MM-DDTHH:MM:SS.ffffffZ (UTC; naive timestamps are taken as UTC)   j:<json>   null
and the hash is md5 over `field=value` pairs joined by a unit separator, in mapping order.
"""

from __future__ import annotations

NULL = "'null'"
_NUMERIC_INT = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                "UBIGINT", "UHUGEINT")


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def canonical_sql(column: str, duckdb_type: str) -> str:
    """A DuckDB expression giving the canonical text of `column` (never NULL)."""
    c = quote(column)
    t = duckdb_type.upper()
    if t in _NUMERIC_INT:
        value = f"'n:' || CAST({c} AS VARCHAR)"
    elif t.startswith("DECIMAL") or t in ("DOUBLE", "FLOAT", "REAL"):
        # Through DECIMAL(38,9) so 1.50, 1.5 (double) and 1.500000000 all print alike, then trim zeros;
        # values too large for it keep their own text.
        fixed = f"rtrim(rtrim(CAST(TRY_CAST({c} AS DECIMAL(38, 9)) AS VARCHAR), '0'), '.')"
        value = f"'n:' || coalesce({fixed}, CAST({c} AS VARCHAR))"
    elif t == "BOOLEAN":
        value = f"CASE WHEN {c} THEN 'b:true' ELSE 'b:false' END"
    elif t == "DATE":
        value = f"'d:' || strftime({c}, '%Y-%m-%d')"
    elif t.startswith("TIMESTAMP WITH TIME ZONE") or t == "TIMESTAMPTZ":
        value = f"'t:' || strftime(timezone('UTC', {c}), '%Y-%m-%dT%H:%M:%S.%fZ')"
    elif t.startswith("TIMESTAMP"):
        value = f"'t:' || strftime(CAST({c} AS TIMESTAMP), '%Y-%m-%dT%H:%M:%S.%fZ')"
    elif t in ("VARCHAR", "TEXT", "STRING") or t.startswith("VARCHAR"):
        value = f"'s:' || {c}"
    else:  # lists, structs, JSON, intervals: their JSON text
        value = f"'j:' || CAST(to_json({c}) AS VARCHAR)"
    return f"CASE WHEN {c} IS NULL THEN {NULL} ELSE {value} END"


def row_hash_sql(fields: list[tuple[str, str, str]]) -> str:
    """md5 over (field name, column, DuckDB type) triples, in the order given."""
    parts = [f"{_sql_string(name + '=')} || {canonical_sql(column, dtype)}" for name, column, dtype in fields]
    return f"md5(concat_ws(chr(31), {', '.join(parts)}))"


def key_digest_sql(key: str) -> str:
    """The 63-bit digest of a key expression that the MQR ledger counts (NULL for a null key)."""
    return f"CAST(md5_number_upper({key}) >> 1 AS BIGINT)"


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"

