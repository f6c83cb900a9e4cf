"""Models are written in Snowflake SQL; this translates them for engines that speak another dialect."""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, UnsupportedError

from ..config import ModelConfig
from ..errors import ModelError


def to_duckdb(model: ModelConfig) -> str:
    """Snowflake SQL -> DuckDB SQL. Anything sqlglot cannot translate faithfully raises, naming the model."""
    query = _one_query(model)
    try:
        return query.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        raise ModelError(model.name, model.source,
                         f"uses Snowflake SQL the embedded DuckDB source cannot run: {_first_line(exc)}. "
                         "Rewrite that part with portable SQL, or run this model on Snowflake") from None


def checked_query(model: ModelConfig) -> str:
    """The model's Snowflake SQL as written, once it is known to be one query that changes nothing."""
    _one_query(model)
    return model.query()


def _one_query(model: ModelConfig) -> exp.Query:
    sql = model.query()
    try:
        statements = sqlglot.parse(sql, read="snowflake")
    except ParseError as exc:
        raise ModelError(model.name, model.source, f"SQL does not parse as Snowflake SQL: {_first_line(exc)}") from None
    statements = [s for s in statements if s is not None]
    if len(statements) != 1:
        raise ModelError(model.name, model.source, f"must be exactly one query, found {len(statements)} statements")
    query = statements[0]
    if not isinstance(query, exp.Query):
        raise ModelError(model.name, model.source,
                         f"must be a query (SELECT ...), not {query.key.upper()}: models never change the warehouse")
    return query


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
