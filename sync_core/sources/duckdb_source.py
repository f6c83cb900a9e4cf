"""The embedded source: a DuckDB file, read through short-lived read-only connections.

DuckDB locks its file per process (a read-write holder blocks every reader in other processes and
the reverse), so a connection is opened for one query and closed as soon as its rows are read."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import duckdb
import pyarrow as pa

from ..config import ModelConfig, SourceConfig
from ..dbt_models import missing_relation
from ..errors import ModelError, WorkspaceBusyError, engine_message
from .snowflake_sql import to_duckdb


class DuckDBSource:
    def __init__(self, config: SourceConfig):
        self.config = config

    @contextmanager
    def _connect(self, model: ModelConfig):
        self._check_exists(model)
        try:
            con = duckdb.connect(str(self.config.path), read_only=True)
        except duckdb.IOException as exc:
            raise self._busy(exc) from None
        try:
            con.execute("SET enable_progress_bar = false")  # DuckDB would draw it on stdout, in --json output
            yield con
        finally:
            con.close()

    def _check_exists(self, model: ModelConfig) -> None:
        if not self.config.path.exists():
            raise ModelError(model.name, self.config.name, f"the DuckDB file {self.config.path} does not exist")

    def _busy(self, exc: Exception) -> WorkspaceBusyError:
        return WorkspaceBusyError(
            f"source '{self.config.name}': the warehouse {self.config.path} is locked by another process "
            f"(a `demo advance` or another writer?). Retry when it is done. ({exc})")

    @contextmanager
    def scan(self, con: duckdb.DuckDBPyConnection, model: ModelConfig) -> Iterator[str]:
        """The warehouse file is attached to the planner's DuckDB for the block, so rows go from the model's
        query into the planner's tables without crossing into Python as Arrow batches."""
        self._check_exists(model)
        path = str(self.config.path).replace("'", "''")
        try:
            con.execute(f"ATTACH '{path}' AS model_source (READ_ONLY)")
        except duckdb.IOException as exc:
            raise self._busy(exc) from None
        try:
            con.execute("USE model_source")  # the model's table names are the warehouse's, unqualified
            yield f"({to_duckdb(model)}) AS model"
        finally:
            con.execute("USE memory")
            con.execute("DETACH model_source")

    def _execute(self, con, model: ModelConfig, sql: str):
        try:
            return con.sql(sql)
        except duckdb.Error as exc:
            if model.dbt is not None and isinstance(exc, duckdb.CatalogException) and "does not exist" in str(exc):
                raise missing_relation(model.name, self.config.name, model.dbt, "duckdb") from None
            raise ModelError(model.name, self.config.name, f"query failed: {engine_message(exc)}") from None

    def schema(self, model: ModelConfig) -> pa.Schema:
        sql = f"SELECT * FROM ({to_duckdb(model)}) AS model LIMIT 0"
        with self._connect(model) as con:
            return _lower(self._execute(con, model, sql).to_arrow_table().schema)

    def batches(self, model: ModelConfig, rows_per_batch: int = 100_000) -> Iterator[pa.RecordBatch]:
        sql = to_duckdb(model)
        with self._connect(model) as con:
            reader = self._execute(con, model, sql).to_arrow_reader(rows_per_batch)
            schema = _lower(reader.schema)
            for batch in reader:
                yield pa.RecordBatch.from_arrays(batch.columns, schema=schema)


def _lower(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f.with_name(f.name.lower()) for f in schema])
