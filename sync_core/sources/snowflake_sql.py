"""Models are written in Snowflake SQL; this translates them for engines that speak another dialect."""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, TokenError, UnsupportedError
from sqlglot.tokens import TokenType

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
        _no_empty_list_item(sql)
        statements = sqlglot.parse(sql, read="snowflake")
    except (ParseError, TokenError) as exc:  # TokenError: an unterminated string or comment
        raise ModelError(model.name, model.source, f"SQL does not parse as Snowflake SQL: {_first_line(exc)} (line "
                         "and column within the model's SQL). Fix the SQL, then check it with "
                         f"`sync-core model check {model.name}`") from None
    statements = [s for s in statements if s is not None]
    if len(statements) != 1:
        raise ModelError(model.name, model.source, f"must be exactly one query, found {len(statements)} statements")
    query = statements[0]
    if not isinstance(query, exp.Query):
        raise ModelError(model.name, model.source,
                         f"must be a query (SELECT ...), not {query.key.upper()}: models never change the warehouse")
    return query


def _no_empty_list_item(sql: str) -> None:
    """Two commas in a row (`a,, b`): Snowflake refuses them, sqlglot's parser quietly drops the empty item, and the
    embedded source would then run a model that fails on Snowflake."""
    tokens = sqlglot.tokenize(sql, read="snowflake")
    for before, token in zip(tokens, tokens[1:]):
        if before.token_type == token.token_type == TokenType.COMMA:
            raise ParseError(f"Two commas in a row. Line {token.line}, Col: {token.col}.")


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
