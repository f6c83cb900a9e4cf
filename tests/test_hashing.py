"""A row hashes the same whatever Arrow types its source's driver chose for the same values."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import duckdb
import pyarrow as pa

from sync_core.hashing import row_hash_sql

FIELDS = ["score", "amount", "seen", "name", "flag"]


def hash_of(table: pa.Table) -> list[str]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("t", table)
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE t)").fetchall())
    sql = row_hash_sql([(f, f, types[f]) for f in FIELDS])
    return [h for (h,) in con.execute(f"SELECT {sql} FROM t").fetchall()]


def test_same_values_from_different_drivers_hash_alike():
    duckdb_like = pa.table({
        "score": pa.array([42, None], pa.int32()),
        "amount": pa.array([Decimal("1.50"), Decimal("2.00")], pa.decimal128(12, 2)),
        "seen": pa.array([datetime(2026, 1, 5, 6, 0), None], pa.timestamp("us")),
        "name": ["Ada", None], "flag": [True, False]})
    snowflake_like = pa.table({
        "score": pa.array([Decimal(42), None], pa.decimal128(38, 0)),
        "amount": pa.array([1.5, 2.0], pa.float64()),
        # 08:00 at +02:00 is the naive-UTC 06:00 above
        "seen": pa.array([datetime(2026, 1, 5, 8, 0, tzinfo=timezone(timedelta(hours=2))), None],
                         pa.timestamp("ns", tz="+02:00")),
        "name": ["Ada", None], "flag": [True, False]})
    assert hash_of(duckdb_like) == hash_of(snowflake_like)


def test_null_empty_string_and_the_text_null_differ():
    table = pa.table({"score": [1, 1, 1], "amount": [1.0, 1.0, 1.0], "seen": pa.array([None] * 3, pa.timestamp("us")),
                      "name": [None, "", "null"], "flag": [True, True, True]})
    assert len(set(hash_of(table))) == 3


def test_a_changed_value_changes_the_hash():
    base = {"score": [1], "amount": [1.0], "seen": pa.array([None], pa.timestamp("us")), "name": ["a"], "flag": [True]}
    changed = dict(base, amount=[1.01])
    assert hash_of(pa.table(base)) != hash_of(pa.table(changed))
