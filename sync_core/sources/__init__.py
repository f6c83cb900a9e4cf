"""Sources run a model where the data lives and stream its rows as Arrow record batches.

Column names come out lower-case whatever the warehouse returns (Snowflake upper-cases unquoted
identifiers, DuckDB keeps them as written), so mappings match the same way on every source."""

from __future__ import annotations

from typing import Iterator, Protocol

import duckdb
import numpy as np
import pyarrow as pa

from ..config import ModelConfig, SourceConfig

MODEL_TABLE = "model_rows"


class Source(Protocol):
    def schema(self, model: ModelConfig) -> pa.Schema:
        """The model's columns and types, without reading its rows."""

    def batches(self, model: ModelConfig, rows_per_batch: int = 100_000) -> Iterator[pa.RecordBatch]:
        """The model's rows, batch by batch; the connection is released when the iterator ends."""

    def load_into(self, con: duckdb.DuckDBPyConnection, model: ModelConfig, columns: list[str]) -> int:
        """Run the model into table MODEL_TABLE of `con` (the planner's in-process DuckDB): `columns`, plus
        `_ord`, a distinct number per row. Returns the number of rows. `load_batches` does it for any source."""


def load_batches(source: Source, con: duckdb.DuckDBPyConnection, model: ModelConfig, columns: list[str],
                 rows_per_batch: int = 100_000) -> int:
    """Source.load_into through the source's Arrow batches."""
    total = 0
    for batch in source.batches(model, rows_per_batch):
        table = pa.Table.from_batches([batch]).select(columns)
        table = table.append_column("_ord", pa.array(np.arange(total, total + table.num_rows, dtype=np.int64)))
        con.register("incoming", table)
        if total == 0:
            con.execute(f"CREATE TABLE {MODEL_TABLE} AS SELECT * FROM incoming")
        else:
            con.execute(f"INSERT INTO {MODEL_TABLE} SELECT * FROM incoming")
        con.unregister("incoming")
        total += table.num_rows
    if total == 0:  # an empty model still needs its (typed) table
        empty = pa.Table.from_batches([], source.schema(model)).select(columns)
        con.register("incoming", empty.append_column("_ord", pa.array([], pa.int64())))
        con.execute(f"CREATE TABLE {MODEL_TABLE} AS SELECT * FROM incoming")
        con.unregister("incoming")
    return total


def open_source(config: SourceConfig) -> Source:
    from .duckdb_source import DuckDBSource
    return DuckDBSource(config)
