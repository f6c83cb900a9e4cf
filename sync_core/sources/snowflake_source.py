"""The Snowflake source: a model's Snowflake SQL run through a Snowpark session, its rows read batch by batch.

A session is opened for one operation (the model's description, or its rows) and closed when it ends. Every
query carries a QUERY_TAG naming sync-core, the sync and the run, and the source's statement timeout: both are
session parameters given at login, so no statement of the session escapes them.
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pyarrow as pa

from ..config import ModelConfig, SourceConfig
from ..dbt_models import missing_relation
from ..errors import ConfigError, ModelError, SyncCoreError
from ..secrets import remember
from ..snowflake_settings import SnowflakeSettings
from .snowflake_errors import NO_OBJECT, Login, errno_of, explain, is_snowflake_error
from .snowflake_sql import checked_query
from .snowflake_types import ResultShape, UnreadableType, conform, shape

APPLICATION = "sync-core"  # Snowflake's `application` login option: the client named in its login history


class ConnectionsFileReadable(UserWarning):
    """connections.toml can be read by other users of the machine."""


def make_query_tag(sync_id: str | None, run_id: int | None) -> str:
    """JSON, the form tools reading QUERY_HISTORY parse: which sync and run sent the query."""
    return json.dumps({"app": APPLICATION, "sync": sync_id, "run": run_id}, separators=(",", ":"))


def connections_file() -> Path:
    """Where the connector reads connections.toml: $SNOWFLAKE_HOME, else ~/.snowflake."""
    return Path(os.environ.get("SNOWFLAKE_HOME") or "~/.snowflake").expanduser() / "connections.toml"


class SnowflakeSource:
    def __init__(self, config: SourceConfig, *, query_tag: str | None = None):
        assert config.snowflake is not None
        self.config, self.settings = config, config.snowflake
        self.query_tag = query_tag or make_query_tag(None, None)

    # -- the session -------------------------------------------------------------------------------------------

    def session_options(self) -> tuple[dict[str, Any], Login]:
        """The options Snowpark's builder is given, with the secrets resolved, and who logs in (for messages)."""
        s = self.settings
        options: dict[str, Any] = {}
        credential = None
        if s.connection is not None:
            options, credential = self._connection(s)
        options.update(s.plain_options())
        for name in ("account", "user"):
            if not options.get(name):
                raise ConfigError(s.file, f"{s.key}.{name}",
                                  f"is required: connection '{s.connection}' in {connections_file()} gives none")
        if s.password is not None:
            options["password"] = s.password.resolve(s.root)
            credential = f"the secret `{s.password.describe()}`"
        if s.private_key_file is not None:
            if not s.private_key_file.is_file():
                raise ConfigError(s.file, f"{s.key}.private_key_file", f"{s.private_key_file} is not a file")
            options.update(authenticator="SNOWFLAKE_JWT", private_key_file=str(s.private_key_file))
            options.pop("password", None)
            credential = f"the key file {s.private_key_file}"
        if s.private_key is not None:
            options.update(authenticator="SNOWFLAKE_JWT", private_key=self._private_key(s))
            options.pop("password", None)
            credential = f"the secret `{s.private_key.describe()}`"
        if s.private_key_passphrase is not None:
            options["private_key_file_pwd"] = s.private_key_passphrase.resolve(s.root)
        options.pop("connection_name", None)
        options["application"] = APPLICATION
        options["network_timeout"] = s.network_timeout_seconds
        options["session_parameters"] = {**options.get("session_parameters", {}), "QUERY_TAG": self.query_tag,
                                         "STATEMENT_TIMEOUT_IN_SECONDS": s.statement_timeout_seconds}
        login = Login(self.config.name, str(options["account"]), str(options["user"]), options.get("role"),
                      options.get("warehouse"), options.get("database"), credential or "the source's credential")
        return options, login

    def _connection(self, s: SnowflakeSettings) -> tuple[dict[str, Any], str | None]:
        path = connections_file()
        key = f"{s.key}.connection"
        if not path.is_file():
            raise ConfigError(s.file, key, f"names connection '{s.connection}', but {path} does not exist (set "
                                           "$SNOWFLAKE_HOME to its folder, or give the options in workspace.toml)")
        mode = path.stat().st_mode
        if mode & (stat.S_IRGRP | stat.S_IROTH):  # as the connector warns when it reads the file itself
            warnings.warn(f"{path} is readable by other users of this machine (mode {mode & 0o777:o}), and it holds "
                          f"the credentials of connection '{s.connection}': restrict it with `chmod 0600 {path}`",
                          ConnectionsFileReadable, stacklevel=2)
        try:
            connections = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(path, "", f"not valid TOML: {exc}") from None
        if not isinstance(connections.get(s.connection), dict):
            known = ", ".join(sorted(k for k, v in connections.items() if isinstance(v, dict))) or "none"
            raise ConfigError(s.file, key, f"no connection '{s.connection}' in {path} (connections: {known})")
        options = dict(connections[s.connection])
        for secret in ("password", "token", "private_key_file_pwd", "private_key_passphrase"):
            if isinstance(options.get(secret), str):
                remember(options[secret])
        credential = (f"`password` of connection '{s.connection}' in {path}" if "password" in options
                      else f"the credential of connection '{s.connection}' in {path}")
        return options, credential

    @staticmethod
    def _private_key(s: SnowflakeSettings):
        from cryptography.hazmat.primitives import serialization  # the connector's own dependency
        pem = s.private_key.resolve(s.root)
        passphrase = s.private_key_passphrase.resolve(s.root).encode() if s.private_key_passphrase else None
        try:
            return serialization.load_pem_private_key(pem.encode(), password=passphrase)
        except (ValueError, TypeError) as exc:
            raise ConfigError(s.file, f"{s.key}.private_key",
                              f"{s.private_key.describe()} is not a PEM private key that opens with the given "
                              f"passphrase ({type(exc).__name__})") from None

    @contextmanager
    def session(self) -> Iterator[Any]:
        from snowflake.snowpark import Session  # imported when used: Snowpark takes a second to import
        options, login = self.session_options()
        self.login = login
        try:
            session = Session.builder.configs(options).create()
        except Exception as exc:
            raise self._explain(exc) from None
        try:
            yield session
        finally:
            try:
                session.close()
            except Exception:  # noqa: BLE001 - its queries are done; close() closes the connection whatever
                # close() first cancels the session's queries, which can fail (the local emulator has no
                # system$cancel_all_queries); a failure here must not hide the block's own outcome.
                pass

    def _explain(self, exc: BaseException, model: ModelConfig | None = None) -> BaseException:
        if isinstance(exc, SyncCoreError) or not is_snowflake_error(exc):
            return exc
        if model is not None and model.dbt is not None and errno_of(exc) == NO_OBJECT:
            return missing_relation(model.name, self.config.name, model.dbt, "snowflake")
        return explain(exc, self.login, (model.name, self.config.name) if model else None)

    # -- the Source protocol -----------------------------------------------------------------------------------

    def _shape(self, session, model: ModelConfig):
        frame = session.sql(checked_query(model))
        try:
            return frame, shape(frame.schema)  # a describe-only round trip: no rows are read
        except UnreadableType as exc:
            raise ModelError(model.name, self.config.name, str(exc)) from None
        except Exception as exc:
            raise self._explain(exc, model) from None

    def described(self, session, model: ModelConfig) -> pa.Schema:
        """The model's columns over a session already open (checks that share one login): no rows are read."""
        return self._shape(session, model)[1].schema

    def schema(self, model: ModelConfig) -> pa.Schema:
        with self.session() as session:
            return self.described(session, model)

    def batches(self, model: ModelConfig, rows_per_batch: int = 100_000) -> Iterator[pa.RecordBatch]:
        with self.session() as session:
            frame, result = self._shape(session, model)
            yield from self._batches(frame, result, model, rows_per_batch)

    def _batches(self, frame, result: ResultShape, model: ModelConfig, rows_per_batch: int):
        """The result's Arrow batches, conformed, one at a time: the connector downloads its result chunks as
        they are asked for, so at most a chunk and a batch are held here."""
        try:
            chunks = frame.to_arrow_batches()
            for chunk in chunks:
                yield from conform(chunk, result.schema).to_batches(rows_per_batch)
        except Exception as exc:
            raise self._explain(exc, model) from None

    @contextmanager
    def scan(self, con: duckdb.DuckDBPyConnection, model: ModelConfig) -> Iterator[str]:
        """The batches as a stream the planner's DuckDB reads once, as it builds its table: the whole result is
        never gathered on this side (DESCRIBE reads only the stream's schema)."""
        with self.session() as session:
            frame, result = self._shape(session, model)
            failure: list[BaseException] = []

            def batches():
                try:
                    yield from self._batches(frame, result, model, 100_000)
                except BaseException as exc:  # DuckDB reports it as its own error: kept to raise it as it is
                    failure.append(exc)
                    raise

            con.register("snowflake_rows", pa.RecordBatchReader.from_batches(result.schema, batches()))
            try:
                yield f"({result.select_sql('snowflake_rows')}) AS model"
            except Exception:
                if failure:
                    raise failure[0] from None
                raise
            finally:
                con.unregister("snowflake_rows")
