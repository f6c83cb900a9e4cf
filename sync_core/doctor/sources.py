"""Doctor's checks of a source: reachable, authenticated (Snowflake), each of its models readable (described, no
rows read), and the age of its password."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from ..config import ModelConfig, SourceConfig, Workspace
from ..credential_age import (EXPIRED, FROM_SNOWFLAKE, OK as AGE_OK, CredentialAge, age_of, password_last_set,
                              password_login)
from ..errors import ConfigError, ModelError, SyncCoreError, WorkspaceBusyError
from ..planner import check_columns
from ..sources import open_source
from ..state import StateStore
from .checks import FAIL, OK, WARN, Check, from_error

MODEL_STEP = ("Fix the model in workspace.toml (models.{model}); `sync-core model preview {model}` shows its first "
              "rows once it runs")


def check_source(workspace: Workspace, source: SourceConfig, store: StateStore, now: datetime) -> list[Check]:
    models = [m for m in workspace.models.values() if m.source == source.name]
    if source.type == "snowflake":
        return _snowflake(workspace, source, models, store, now)
    return _duckdb(workspace, source, models)


def _duckdb(workspace: Workspace, source: SourceConfig, models: list[ModelConfig]) -> list[Check]:
    target = f"source {source.name}"
    if not source.path.is_file():
        return [Check(target, "reachable", FAIL, f"the DuckDB file {source.path} does not exist",
                      f"Correct `path` of [sources.{source.name}] in workspace.toml, or create the warehouse there")]
    checks = [Check(target, "reachable", OK, f"DuckDB file {source.path} (a local file: no login)")]
    reader = open_source(source)
    return checks + [c for model in models for c in _model_checks(workspace, target, model,
                                                                   lambda m=model: reader.schema(m))]


def _model_checks(workspace: Workspace, target: str, model: ModelConfig, describe) -> list[Check]:
    """The model readable, with its primary key; then each sync of it finds the columns it reads (a run would
    stop at once on a column the model no longer returns, after a rename in its SQL)."""
    check = f"model {model.name}"
    try:
        schema: pa.Schema = describe()
    except WorkspaceBusyError as exc:
        return [from_error(target, check, exc, WARN)]
    except ModelError as exc:
        return [Check(target, check, FAIL, str(exc), MODEL_STEP.format(model=model.name))]
    except SyncCoreError as exc:
        return [from_error(target, check, exc)]
    names = [f.name.lower() for f in schema]
    if model.primary_key.lower() not in names:
        return [Check(target, check, FAIL, f"readable, but its primary key column '{model.primary_key}' is not among "
                                           f"its columns ({', '.join(names)})",
                      f"Set models.{model.name}.primary_key to one of its columns, or return that column")]
    checks = [Check(target, check, OK, f"readable: {len(names)} columns, primary key {model.primary_key}")]
    for sync in (s for s in workspace.syncs.values() if s.model == model.name):
        try:
            check_columns(workspace, sync, _lower(schema))
        except ConfigError as exc:
            checks.append(Check(target, f"sync {sync.id} columns", FAIL, str(exc),
                                f"Return the column from the SQL of model {model.name}, or correct the sync's key "
                                "in workspace.toml"))
        else:
            checks.append(Check(target, f"sync {sync.id} columns", OK, f"model {model.name} returns every column "
                                                                       "the sync reads"))
    return checks


def _lower(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f.with_name(f.name.lower()) for f in schema])


def _snowflake(workspace: Workspace, source: SourceConfig, models: list[ModelConfig], store: StateStore,
               now: datetime) -> list[Check]:
    from ..sources.snowflake_errors import SnowflakeAccessError
    target = f"source {source.name}"
    try:
        login = password_login(workspace, source, create_key=True)
    except ConfigError as exc:  # an unset secret, a missing connection: nothing to log in with
        return [from_error(target, "configured", exc)]
    reader = open_source(source)
    checks: list[Check] = []
    changed_at, why = None, None
    try:
        with reader.session() as session:
            who = reader.login
            checks.append(Check(target, "reachable", OK, f"Snowflake account {who.account}"))
            checks.append(Check(target, "authenticated", OK, f"logged in as {who.user}"
                                                             f"{f' with role {who.role}' if who.role else ''}"))
            checks += [c for m in models for c in _model_checks(workspace, target, m,
                                                                 lambda m=m: reader.described(session, m))]
            if login is not None:
                changed_at, why = password_last_set(session, login.user)
    except SnowflakeAccessError as exc:
        if exc.kind == "unreachable":
            return [from_error(target, "reachable", exc)]
        checks += [Check(target, "reachable", OK, f"Snowflake account {reader.login.account} answered"),
                   from_error(target, "authenticated", exc)]
        if exc.kind == "password_expired":
            return checks  # the line above says it, and what to do; the age counted here started too late
    except SyncCoreError as exc:
        return checks + [from_error(target, "configured", exc)]
    if login is not None:
        checks.append(_age_check(target, age_of(login, store, now, record=True, changed_at=changed_at), now, why))
    return checks


def _age_check(target: str, age: CredentialAge, now: datetime, why: str | None) -> Check:
    found = age.summary(now)
    if why and age.basis != FROM_SNOWFLAKE:
        found += f" Snowflake did not say when it was set: {why}."
    status = {AGE_OK: OK, EXPIRED: FAIL}.get(age.status(now), WARN)
    return Check(target, "password age", status, found, age.advice(now))
