"""Sources run a model where the data lives and stream its rows as Arrow record batches.

Column names come out lower-case whatever the warehouse returns (Snowflake upper-cases unquoted
identifiers, DuckDB keeps them as written), so mappings match the same way on every source."""

from __future__ import annotations

from contextlib import contextmanager
from typing import ContextManager, Iterator, Protocol

import duckdb
import pyarrow as pa

from ..config import ModelConfig, SourceConfig


class Source(Protocol):
    def schema(self, model: ModelConfig) -> pa.Schema:
        """The model's columns and types, without reading its rows."""

    def batches(self, model: ModelConfig, rows_per_batch: int = 100_000) -> Iterator[pa.RecordBatch]:
        """The model's rows, batch by batch; the connection is released when the iterator ends."""

    def scan(self, con: duckdb.DuckDBPyConnection, model: ModelConfig) -> ContextManager[str]:
        """Make the model's rows readable in `con` (the planner's in-process DuckDB) for the duration of the
        `with` block, as the FROM item it yields. Column names may keep the warehouse's case. `scan_batches`
        does it for any source, through its Arrow batches."""


@contextmanager
def scan_batches(source: Source, con: duckdb.DuckDBPyConnection, model: ModelConfig,
                 rows_per_batch: int = 100_000) -> Iterator[str]:
    """Source.scan through the source's Arrow batches, gathered in a temporary table."""
    first = True
    for batch in source.batches(model, rows_per_batch):
        con.register("incoming", pa.Table.from_batches([batch]))
        con.execute(("CREATE TEMP TABLE model_batches AS " if first else "INSERT INTO model_batches ")
                    + "SELECT * FROM incoming")
        con.unregister("incoming")
        first = False
    if first:  # an empty model still needs its (typed) table
        con.register("incoming", pa.Table.from_batches([], source.schema(model)))
        con.execute("CREATE TEMP TABLE model_batches AS SELECT * FROM incoming")
        con.unregister("incoming")
    try:
        yield "temp.main.model_batches"
    finally:
        con.execute("DROP TABLE temp.main.model_batches")


def open_source(config: SourceConfig, *, sync_id: str | None = None, run_id: int | None = None) -> Source:
    """The source a model reads from. `sync_id` and `run_id` label the warehouse's queries, where it keeps labels
    (Snowflake's QUERY_TAG)."""
    if config.type == "snowflake":
        from .snowflake_source import SnowflakeSource, make_query_tag  # Snowpark is imported only when used
        return SnowflakeSource(config, query_tag=make_query_tag(sync_id, run_id))
    from .duckdb_source import DuckDBSource
    return DuckDBSource(config)
