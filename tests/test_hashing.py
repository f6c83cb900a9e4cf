"""A row hashes the same whatever Arrow types its source's driver chose for the same values."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import duckdb
import pyarrow as pa

from sync_core.hashing import key_digest_sql, row_hash_sql

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


GOLDEN_ROWS = """SELECT * FROM (VALUES
 (1, 42::INTEGER, 9007199254740993::BIGINT, 170141183460469231731687303715884105727::HUGEINT, 10.00::DECIMAL(12,2),
  12345678901234567890123456789012345678::DECIMAL(38,0), 1.123456789123::DECIMAL(38,12), 0.000000001::DECIMAL(18,9),
  2.5::DOUBLE, TRUE, DATE '2026-02-28', TIMESTAMP '2026-01-05 06:00:00.123456', TIMESTAMPTZ '2026-01-05 08:00:00+02',
  'Ada', [1, 2], {'a': 'x'}),
 (2, -7, 0, -1, -0.50, 0, 0, -1.000000000, -0.0, FALSE, DATE '1970-01-01', TIMESTAMP '1999-12-31 23:59:59',
  TIMESTAMPTZ '2000-01-01 00:00:00+00', '', [], {'a': NULL}),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (4, 0, -9223372036854775808, 0, 0.00, -99999999999999999999999999999999999999, 0.000000000001, 123456789.123456789,
  1e300, TRUE, DATE '2400-12-31', TIMESTAMP '2026-11-29 00:00:00', TIMESTAMPTZ '2026-11-29 23:30:00-05', 'null', [NULL],
  {'a': 'é "q"'})
) v(id, i, b, h, d2, d38, d38s12, d9, f, flag, dt, ts, tstz, s, l, st)"""


def test_hashes_and_digests_never_change_between_releases():
    """Every snapshot holds these hashes and every MQR ledger these digests: a release that computed other
    values would resend every row of every sync, and count every record of the period a second time."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE TABLE t AS {GOLDEN_ROWS}")
    fields = [(name, name, dtype) for name, dtype in con.execute("SELECT column_name, column_type FROM (DESCRIBE t)")
              .fetchall() if name != "id"]
    assert con.execute(f"SELECT id, {row_hash_sql(fields)}, {key_digest_sql('s')} FROM t ORDER BY id").fetchall() == [
        (1, "47e1e41bdec69d7a5455696206779d58", 3755967297921227789),
        (2, "50d5a7c5f07333fc6193c3ffb9f139ef", 169166769918185194),
        (3, "26b277ae35952e4f54df7876c129c2ca", None),
        (4, "b9db8127da774b64a1000bda574806bf", 8173295415246115611)]


SNOWFLAKE_GOLDEN = {  # column: (Snowflake type and value, DuckDB type and value): the same value on each side
    "i": ("NUMBER(38,0)", "9007199254740993", "BIGINT", "9007199254740993"),
    "d2": ("NUMBER(12,2)", "10.00", "DECIMAL(12,2)", "10.00"),
    "f": ("FLOAT", "2.5", "DOUBLE", "2.5"),
    "flag": ("BOOLEAN", "TRUE", "BOOLEAN", "TRUE"),
    "dt": ("DATE", "'2026-02-28'", "DATE", "'2026-02-28'"),
    "ts": ("TIMESTAMP_NTZ", "'2026-01-05 06:00:00.123456'", "TIMESTAMP", "'2026-01-05 06:00:00.123456'"),
    "tz": ("TIMESTAMP_LTZ", "'2026-01-05 06:00:00'", "TIMESTAMPTZ", "'2026-01-05 06:00:00+00'"),
    "s": ("VARCHAR", "'Ada'", "VARCHAR", "'Ada'"),
    "j": ("VARIANT", """PARSE_JSON('{"a": [1, 2], "b": "é"}')""", "JSON", """'{"a":[1,2],"b":"é"}'"""),
    "n": ("NUMBER(38,0)", "NULL", "BIGINT", "NULL"),
}


def test_values_as_the_snowflake_source_hands_them_over_hash_as_on_duckdb_and_never_change(tmp_path, monkeypatch):
    """Through the real Snowpark session and connector, from the fakesnow emulator, normalised at the source's
    boundary: each value hashes as the same value held in DuckDB, and the row's hash is pinned like the others."""
    from sync_core.demo.snowflake_emulator import snowflake_emulator
    from sync_core.config import ModelConfig, SourceConfig
    from sync_core.secrets import SecretRef
    from sync_core.snowflake_settings import SnowflakeSettings
    from sync_core.sources.snowflake_source import SnowflakeSource

    names = list(SNOWFLAKE_GOLDEN)
    duck = duckdb.connect()
    duck.execute("SET TimeZone = 'UTC'")
    duck.execute(f"CREATE TABLE t AS SELECT {', '.join(f'CAST({v[3]} AS {v[2]}) AS {n}' for n, v in SNOWFLAKE_GOLDEN.items())}")
    monkeypatch.setenv("GOLDEN_SF_PASSWORD", "any-password")
    with snowflake_emulator() as em:
        db = em.database([f"CREATE TABLE T ({', '.join(f'{n} {v[0]}' for n, v in SNOWFLAKE_GOLDEN.items())})",
                          f"INSERT INTO T SELECT {', '.join(v[1] for v in SNOWFLAKE_GOLDEN.values())}"])
        settings = SnowflakeSettings("workspace.toml", "sources.sf", tmp_path, account="fakesnow", user="u",
                                     password=SecretRef("env", "GOLDEN_SF_PASSWORD", "workspace.toml",
                                                        "sources.sf.password"),
                                     host=em.host, port=em.port, protocol="http", database=db, schema="S")
        source = SnowflakeSource(SourceConfig("sf", "snowflake", snowflake=settings))
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        with source.scan(con, ModelConfig("t", "sf", "s", "t", sql="SELECT * FROM t")) as rows:
            con.execute(f"CREATE TABLE t AS SELECT * FROM {rows}")

    def hashes(c) -> dict[str, str]:
        types = dict(c.execute("SELECT column_name, column_type FROM (DESCRIBE t)").fetchall())
        each = {n: c.execute(f"SELECT {row_hash_sql([(n, n, types[n])])} FROM t").fetchone()[0] for n in names}
        each["row"] = c.execute(f"SELECT {row_hash_sql([(n, n, types[n]) for n in names])} FROM t").fetchone()[0]
        return each

    from_snowflake = hashes(con)
    assert from_snowflake == hashes(duck)
    assert from_snowflake["row"] == "04fe6f5b821912f0c6c5625ff2480bdb"
