"""The DuckDB source: Snowflake SQL translated, rows streamed in batches, connections released."""

from __future__ import annotations

import duckdb
import pytest

from sync_core import ModelError
from sync_core.config import ModelConfig, SourceConfig
from sync_core.sources.duckdb_source import DuckDBSource


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "wh.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE people AS SELECT 'p' || i || '@x.io' AS Email, i AS Score FROM range(25000) t(i)")
    return DuckDBSource(SourceConfig("wh", "duckdb", path))


def model(sql=None, **kwargs):
    return ModelConfig(name="people", source="wh", primary_key="email", entity="person", sql=sql, **kwargs)


def test_snowflake_sql_runs_and_streams_in_batches_with_lowercase_columns(source):
    m = model("SELECT Email, IFF(Score > 10, 'high', 'low') AS band FROM people "
              "QUALIFY ROW_NUMBER() OVER (PARTITION BY Email ORDER BY Score) = 1")
    batches = list(source.batches(m, rows_per_batch=10_000))
    assert len(batches) >= 3 and sum(b.num_rows for b in batches) == 25_000
    assert batches[0].schema.names == ["email", "band"]
    # The connection is closed: a writer in this process can open the file now.
    with duckdb.connect(str(source.config.path)) as con:
        con.execute("INSERT INTO people VALUES ('late@x.io', 1)")


def test_table_and_columns_model(source):
    m = model(table="people", columns=("email", "score"))
    assert source.schema(m).names == ["email", "score"]


@pytest.mark.parametrize("sql, words", [
    ("SELECT nope FROM people", ["model 'people'", "query failed", "nope", "Candidate bindings"]),
    ("SELECT email FROM peeple", ["model 'people'", "query failed", 'Did you mean "people"']),
    ("SELECT TO_VARCHAR(Score, '999') FROM people", ["model 'people'", "cannot run"]),
    ("SELEC email FROM people", ["model 'people'", "does not parse", "sync-core model check people"]),
    ("SELECT email,, score FROM people", ["model 'people'", "does not parse", "Two commas in a row"]),
    ("SELECT 'unterminated FROM people", ["model 'people'", "does not parse"]),
    ("DELETE FROM people", ["model 'people'", "must be a query"]),
    ("SELECT 1; SELECT 2", ["model 'people'", "exactly one query"]),
])
def test_bad_sql_names_the_model(source, sql, words):
    with pytest.raises(ModelError) as err:
        list(source.batches(model(sql)))
    assert all(w in str(err.value) for w in words), str(err.value)


def test_a_missing_warehouse_file_is_named(tmp_path):
    src = DuckDBSource(SourceConfig("wh", "duckdb", tmp_path / "missing.duckdb"))
    with pytest.raises(ModelError, match="missing.duckdb does not exist"):
        src.schema(model("SELECT 1 AS email"))
