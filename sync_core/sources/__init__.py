"""Sources run a model where the data lives and stream its rows as Arrow record batches.

Column names come out lower-case whatever the warehouse returns (Snowflake upper-cases unquoted
identifiers, DuckDB keeps them as written), so mappings match the same way on every source."""

from __future__ import annotations

from typing import Iterator, Protocol

import pyarrow as pa

from ..config import ModelConfig, SourceConfig


class Source(Protocol):
    def schema(self, model: ModelConfig) -> pa.Schema:
        """The model's columns and types, without reading its rows."""

    def batches(self, model: ModelConfig, rows_per_batch: int = 100_000) -> Iterator[pa.RecordBatch]:
        """The model's rows, batch by batch; the connection is released when the iterator ends."""


def open_source(config: SourceConfig) -> Source:
    from .duckdb_source import DuckDBSource
    return DuckDBSource(config)
