"""workspace.toml: parsed and validated into typed objects before anything runs.

Every error names the file, the key path (e.g. `syncs.iterable-production.mappings[2].column`) and what is wrong.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .alerts.settings import AlertSettings, parse_alerts
from .dbt_models import DbtModel, resolve as resolve_dbt
from .destinations.catalog import DESTINATION_TYPES
from .errors import ConfigError
from .destinations.types import ObjectType, SyncKey
from .event_settings import EventSettings, from_options as event_settings
from .schedules import Schedule, ScheduleError, parse_schedule
from .sandbox_settings import SandboxConfig, parse_sandboxes
from .secrets import SecretRef, parse_secret_ref
from .snowflake_settings import EmulatorSettings, SnowflakeSettings, parse as parse_snowflake, parse_emulator

WORKSPACE_FILE = "workspace.toml"
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
SOURCE_TYPES = ("duckdb", "snowflake")
NULL_HANDLING = ("omit", "clear")


@dataclass(frozen=True)
class SourceConfig:
    name: str
    type: str  # "duckdb" (embedded) or "snowflake"
    path: Path | None = None  # the DuckDB file
    snowflake: SnowflakeSettings | None = None


@dataclass(frozen=True)
class DestinationConfig:
    name: str
    type: str  # "iterable"
    base_url: str
    api_key: SecretRef
    timeout_seconds: float = 30.0
    max_retry_after_seconds: float = 300.0  # a longer Retry-After is not waited out: the rows wait for the next run
    max_attempts: int = 5
    concurrency: int | None = None  # requests in flight; None: the object's own default (runner.py)
    batch_size: int | None = None  # rows per request; None: the API's maximum
    rate_limit_reserve: float = 0.0  # share of the vendor's rate limit left to other integrations
    # Per-endpoint limits replacing the vendor's defaults (a project with raised limits): name -> (requests, seconds)
    rate_limits: dict[str, tuple[int, float]] = field(default_factory=dict)
    client_id: SecretRef | None = None  # for types whose credential is a client id and secret (api_key: the secret)
    settings: dict[str, int | float] = field(default_factory=dict)  # the type's own (DestinationType.settings)


@dataclass(frozen=True)
class ModelConfig:
    name: str
    source: str
    primary_key: str
    entity: str  # MQR: models keying the same people share an entity so a person counts once
    sql: str | None = None
    table: str | None = None
    columns: tuple[str, ...] = ()
    dbt: DbtModel | None = None  # a model from dbt (dbt_models.py): `sql` reads the relation it materialises
    # Why the dbt model could not be resolved (a stale or missing manifest...): raised when the model is used, so
    # one model's dbt artifacts never stop the workspace, its other syncs or the dashboard.
    dbt_problem: ConfigError | None = None

    def query(self) -> str:
        """The model as Snowflake SQL."""
        if self.dbt_problem is not None:
            raise self.dbt_problem
        if self.sql is not None:
            return self.sql
        return f"SELECT {', '.join(self.columns)} FROM {self.table}"


@dataclass(frozen=True)
class Mapping:
    column: str  # model column
    field: str  # destination field
    null: str = "omit"  # omit the field when null, or "clear" it (send null)


@dataclass(frozen=True)
class ExpectedErrorRule:
    """A rejection that is expected for this sync: matched on the outcome's code, or a message pattern."""
    code: str | None
    message: str | None  # glob-style, `*` matches anything
    reason: str

    def matches(self, code: str, message: str) -> bool:
        if self.code is not None and self.code != code:
            return False
        if self.message is not None:
            pattern = "^" + ".*".join(re.escape(p) for p in self.message.split("*")) + "$"
            return re.match(pattern, message, re.S) is not None
        return True


@dataclass(frozen=True)
class SyncConfig:
    id: str
    name: str
    model: str
    destination: str
    object: str
    mode: str
    match_field: str  # "email" or "userId"
    match_column: str
    mappings: tuple[Mapping, ...]
    schedule: Schedule
    expected_errors: tuple[ExpectedErrorRule, ...]
    # Share of planned rows with real (non-expected) rejections or failures above which the run is `failed`.
    failure_threshold: float = 0.1
    # Share of the snapshot a run may remove (rows gone from the model) before it is blocked (guards.py).
    max_removal_share: float = 0.2
    event: EventSettings | None = None  # an event sync's options, typed: the event's name and time
    # The keys the object declares (ObjectType.sync_keys) that the sync gives, as text: {"activity_type": "..."}
    options: dict[str, str] = field(default_factory=dict)

    @property
    def sent_columns(self) -> tuple[tuple[str, str], ...]:
        """(model column, field) of every value a row sends: the mappings, then what the event settings read."""
        mapped = tuple((m.column, m.field) for m in self.mappings)
        return mapped + (self.event.columns() if self.event else ())


MQR_POLICIES = ("warn", "block")


SEED_MQR_LIMIT = 1_500_000  # Monthly Queried Records in the seed's plan


@dataclass(frozen=True)
class MqrConfig:
    limit: int = SEED_MQR_LIMIT
    billing_period_start_day: int = 1  # 1-31; in a shorter month, the period starts on its last day (mqr.py)
    policy: str = "warn"  # a run that would pass the limit less the reserve: warn, or block it before it counts
    reserve: float = 0  # kept for other uses: a share of the limit (0 <= r < 1) or a count of records (>= 1)

    @property
    def budget(self) -> int:
        """The records runs may count in a period: the limit less the reserve."""
        kept = self.reserve * self.limit if self.reserve < 1 else self.reserve
        return max(0, int(self.limit - kept))


@dataclass(frozen=True)
class Workspace:
    root: Path
    file: Path
    name: str
    state_dir: Path
    sources: dict[str, SourceConfig]
    destinations: dict[str, DestinationConfig]
    models: dict[str, ModelConfig]
    syncs: dict[str, SyncConfig]
    mqr: MqrConfig
    sandboxes: dict[str, SandboxConfig] = field(default_factory=dict)
    retention_days: int = 90  # row-level history the worker keeps (run records stay)
    # Who may run syncs from a dashboard with signed-in users: emails, or domains as '@example.com'. None listed:
    # nobody signed in may (the safe side). A dashboard without sign-in (local use) is always an operator.
    operators: tuple[str, ...] = ()
    alerts: AlertSettings | None = None  # None: no [alerts] table; alerts are recorded, not sent
    snowflake_emulator: EmulatorSettings | None = None  # the Snowflake demo's local emulator

    @property
    def mqr_demo_scaled(self) -> bool:
        """A sandbox workspace whose MQR limit is not the seed's plan: `sync-core up` scaled it to the demo's size,
        and its figures are labelled so."""
        return bool(self.sandboxes) and self.mqr.limit != SEED_MQR_LIMIT

    @property
    def sandbox(self) -> SandboxConfig | None:
        """The workspace's Iterable sandbox, if it declares one (what callers from before several sandboxes mean)."""
        return next((s for s in self.sandboxes.values() if s.vendor == "iterable"), None)

    @property
    def state_path(self) -> Path:
        return self.state_dir / "state.sqlite"

    def sync(self, sync_id: str) -> SyncConfig:
        if sync_id not in self.syncs:
            known = ", ".join(sorted(self.syncs)) or "none"
            hint = difflib.get_close_matches(sync_id, list(self.syncs), n=1)
            did_you_mean = f" Did you mean '{hint[0]}'?" if hint else ""
            raise ConfigError(self.file, f"syncs.{sync_id}",
                              f"no sync with id '{sync_id}' (syncs: {known}).{did_you_mean}")
        return self.syncs[sync_id]

    def is_operator(self, email: str | None) -> bool:
        """May this signed-in user run syncs? (`[dashboard] operators`; see `operators`.)"""
        if not email:
            return False
        email = email.strip().lower()
        return any(email == o.lower() or (o.startswith("@") and email.endswith(o.lower())) for o in self.operators)

    def fingerprint(self, sync_id: str) -> str:
        """A short digest of everything that decides what a sync sends: model, mappings, matching, mode.

        Stored with every run; when it changes, rows are resent because of the change, not because of the data."""
        sync = self.syncs[sync_id]
        model = self.models[sync.model]
        effective = {
            # a dbt model that cannot be resolved fails its run, recorded (never raised before the run starts)
            "model": {"query": model.query() if model.dbt_problem is None else f"unresolved dbt model {model.name}",
                      "primary_key": model.primary_key},
            "source_type": self.sources[model.source].type,
            "destination_type": self.destinations[sync.destination].type,
            "object": sync.object, "mode": sync.mode,
            "match": [sync.match_field, sync.match_column],
            "mappings": [asdict(m) for m in sync.mappings],
        }
        # Absent for objects without options, so their fingerprints stay as they were; an event sync's options
        # are its typed settings, as they were before the event object declared them as options.
        if sync.event is not None:
            effective["event"] = asdict(sync.event)
        elif sync.options:
            effective["options"] = sync.options
        digest = hashlib.sha256(json.dumps(effective, sort_keys=True).encode()).hexdigest()
        return digest[:16]


class _Section:
    """A table of workspace.toml with its key path, so every error can name where it is."""

    def __init__(self, file: str, path: str, data: Any):
        self.file, self.path = file, path
        if not isinstance(data, dict):
            raise ConfigError(file, path, f"must be a table, not {type(data).__name__}")
        self.data = data

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, problem: str) -> ConfigError:
        return ConfigError(self.file, self.key(name), problem)

    def only(self, *allowed: str) -> None:
        for name in self.data:
            if name not in allowed:
                hint = difflib.get_close_matches(name, allowed, n=1)
                extra = f" (did you mean '{hint[0]}'?)" if hint else f" (allowed: {', '.join(allowed)})"
                raise self.error(name, f"unknown key{extra}")

    def get(self, name: str, kind: type | tuple, default: Any = ..., *, choices: tuple | None = None) -> Any:
        if name not in self.data:
            if default is ...:
                raise self.error(name, "is required")
            return default
        value = self.data[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise self.error(name, f"must be {names}, not {type(value).__name__} ({value!r})")
        if choices is not None and value not in choices:
            raise self.error(name, f"must be one of {', '.join(map(str, choices))}, not {value!r}")
        return value

    def table(self, name: str, default: Any = ...) -> "_Section":
        if name not in self.data and default is not ...:
            return _Section(self.file, self.key(name), default)
        return _Section(self.file, self.key(name), self.get(name, dict))

    def tables(self, name: str) -> dict[str, "_Section"]:
        return {k: _Section(self.file, f"{self.key(name)}.{k}", v) for k, v in self.get(name, dict, {}).items()}


WORKSPACE_ENV = "SYNC_CORE_WORKSPACE"  # the workspace folder when a command or the dashboard is not given one


def chosen_workspace_dir(explicit: str | None, default: str = ".") -> Path:
    """The workspace folder: the one given (`-w DIR`), else $SYNC_CORE_WORKSPACE, else `default`."""
    return Path(explicit or os.environ.get(WORKSPACE_ENV) or default)


def workspace_file(path: str | Path) -> Path:
    """The workspace.toml a path names: the file itself, or the one in the folder."""
    path = Path(path).expanduser().resolve()
    return path / WORKSPACE_FILE if path.is_dir() else path


def load_workspace(path: str | Path) -> Workspace:
    """Read and validate a workspace (a folder holding workspace.toml, or the file itself)."""
    file = workspace_file(path)
    if not file.exists():
        raise ConfigError(file, "", "no workspace here: create one with `sync-core demo init DIR`, "
                                    "or pass --workspace pointing to a folder holding workspace.toml")
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, "", f"not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(file, "", f"not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    except OSError as exc:  # removed or unreadable since it was found (an editor saving it, permissions)
        raise ConfigError(file, "", f"cannot be read: {exc.strerror or exc}") from None
    return _parse(file, data)


def _parse(file: Path, data: dict) -> Workspace:
    root, f = file.parent, str(file)
    top = _Section(f, "", data)
    top.only("workspace", "mqr", "sources", "destinations", "models", "syncs", "sandbox", "sandboxes", "dashboard",
             "alerts", "snowflake_emulator")
    ws = top.table("workspace", {})
    ws.only("name", "state_dir", "retention_days", "dbt_project")
    dbt_project = (root / ws.get("dbt_project", str)).resolve() if "dbt_project" in ws.data else None
    retention_days = ws.get("retention_days", int, 90)
    if retention_days < 1:
        raise ws.error("retention_days", "must be at least 1 (days of row-level history the worker keeps)")
    dashboard = top.table("dashboard", {})
    dashboard.only("operators")
    operators = tuple(dashboard.get("operators", list, []))
    for i, operator in enumerate(operators):
        if not isinstance(operator, str) or "@" not in operator or operator.strip() != operator:
            raise ConfigError(f, f"dashboard.operators[{i}]", f"must be an email (ana@example.com) or a domain "
                                                                f"(@example.com), not {operator!r}")
    mqr = top.table("mqr", {})
    mqr_config = _mqr(mqr)

    sources = {name: _source(s, root) for name, s in top.tables("sources").items()}
    destinations = {name: _destination(d) for name, d in top.tables("destinations").items()}
    models = {name: _model(m, sources, dbt_project) for name, m in top.tables("models").items()}
    syncs = {sid: _sync(s, models, destinations) for sid, s in top.tables("syncs").items()}
    sandboxes = parse_sandboxes(top, root, _check_name)
    emulator = (parse_emulator(top.table("snowflake_emulator"), root, sources) if "snowflake_emulator" in top.data
                else None)
    return Workspace(root=root, file=file, name=ws.get("name", str, root.name),
                     state_dir=(root / ws.get("state_dir", str, ".sync-state")),
                     sources=sources, destinations=destinations, models=models, syncs=syncs,
                     mqr=mqr_config, sandboxes=sandboxes, retention_days=retention_days, operators=operators,
                     alerts=parse_alerts(top), snowflake_emulator=emulator)


def _mqr(m: _Section) -> MqrConfig:
    m.only("limit", "billing_period_start_day", "policy", "reserve")
    limit = m.get("limit", int, 1_500_000)
    if limit <= 0:
        raise m.error("limit", f"must be a positive number of records, not {limit}")
    start_day = m.get("billing_period_start_day", int, 1)
    if not 1 <= start_day <= 31:
        raise m.error("billing_period_start_day", f"must be a day of the month, 1 to 31, not {start_day} (29 to 31 "
                                                  "start a shorter month's period on its last day)")
    reserve = m.get("reserve", (int, float), 0)
    if reserve < 0 or (isinstance(reserve, float) and not reserve.is_integer() and reserve >= 1):
        raise m.error("reserve", f"must be a share of the limit (0 to 0.99) or a number of records, not {reserve}")
    if reserve >= limit:
        raise m.error("reserve", f"keeps {reserve:,} records of a limit of {limit:,}: nothing would be left for the "
                                 "syncs")
    return MqrConfig(limit=limit, billing_period_start_day=start_day, policy=m.get("policy", str, "warn",
                     choices=MQR_POLICIES), reserve=reserve)


def _check_name(section: _Section, what: str) -> str:
    name = section.path.rsplit(".", 1)[-1]
    if not SLUG.match(name):
        raise ConfigError(section.file, section.path,
                          f"{what} id '{name}' must be a slug: lowercase letters, digits, '-' and '_'")
    return name


def _source(s: _Section, root: Path) -> SourceConfig:
    name = _check_name(s, "source")
    if s.get("type", str, choices=SOURCE_TYPES) == "snowflake":
        return SourceConfig(name, "snowflake", snowflake=parse_snowflake(s, root))
    s.only("type", "path")
    return SourceConfig(name, "duckdb", path=(root / s.get("path", str)).resolve())


def _destination(d: _Section) -> DestinationConfig:
    name = _check_name(d, "destination")
    kind = d.get("type", str, choices=tuple(DESTINATION_TYPES))
    declared = DESTINATION_TYPES[kind]
    d.only("type", "base_url", *declared.secrets, *filter(None, [declared.account_key]), "timeout_seconds",
           "max_retry_after_seconds", "max_attempts", "concurrency", "batch_size", "rate_limit_reserve", "rate_limits",
           *declared.settings)
    base_url = _base_url(d, declared)
    if not base_url.startswith(("http://", "https://")):
        raise d.error("base_url", f"must start with http:// or https://, not {base_url!r}")
    refs = {key: parse_secret_ref(d.data.get(key), d.file, d.key(key)) for key in declared.secrets}
    return DestinationConfig(
        name, kind, base_url=base_url,
        api_key=refs.get("api_key") or refs["client_secret"], client_id=refs.get("client_id"),
        timeout_seconds=_above_zero(d, "timeout_seconds", float(d.get("timeout_seconds", (int, float), 30.0))),
        max_retry_after_seconds=_above_zero(d, "max_retry_after_seconds",
                                            float(d.get("max_retry_after_seconds", (int, float), 300.0))),
        max_attempts=_positive(d, "max_attempts", d.get("max_attempts", int, 5)),
        concurrency=_positive(d, "concurrency", d.get("concurrency", int, None)),
        batch_size=_batch_size(d, kind),
        rate_limit_reserve=_share(d, "rate_limit_reserve", d.get("rate_limit_reserve", (int, float),
                                                                 declared.default_rate_limit_reserve), below_one=True),
        rate_limits=_rate_limits(d.table("rate_limits", {})),
        settings={name: _setting(d, name, default) for name, default in declared.settings.items()})


def _setting(d: _Section, name: str, default: int | float) -> int | float:
    if isinstance(default, float):
        return _share(d, name, float(d.get(name, (int, float), default)), below_one=True)
    return _positive(d, name, d.get(name, int, default))


def _base_url(d: _Section, declared) -> str:
    """base_url as given, or the type's default, filled in with its account key (Marketo's munchkin_id)."""
    if declared.account_key is None or "base_url" in d.data:
        return d.get("base_url", str, declared.default_base_url).rstrip("/")
    key = declared.account_key
    if key not in d.data:
        raise d.error(key, f"is required (or give base_url): a '{declared.name}' destination's address depends on it")
    account = d.get(key, str)
    if not re.match(declared.account_pattern, account):
        raise d.error(key, f"{account!r} does not read like {declared.account_pattern} (as in 123-ABC-456)")
    return declared.default_base_url.format(**{key: account})


def _batch_size(d: _Section, kind: str) -> int | None:
    value = _positive(d, "batch_size", d.get("batch_size", int, None))
    most = DESTINATION_TYPES[kind].max_batch_size
    if value is not None and value > most:
        raise d.error("batch_size", f"{value:,} rows is more than one request to a '{kind}' destination may carry: "
                                    f"at most {most:,} (leave batch_size out to send the most)")
    return value


def _positive(section: _Section, name: str, value: int | None) -> int | None:
    if value is not None and value < 1:
        raise section.error(name, "must be at least 1")
    return value


def _above_zero(section: _Section, name: str, value: float) -> float:
    if not 0 < value < math.inf:
        raise section.error(name, f"must be a number of seconds above 0, not {value!r}")
    return value


def _share(section: _Section, name: str, value: float, *, below_one: bool = False) -> float:
    if not (0 <= value < 1 if below_one else 0 <= value <= 1):
        raise section.error(name, f"must be a share between 0 and 1{' (less than 1)' if below_one else ''}")
    return float(value)


RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|min|minute)\s*$")


def _rate_limits(section: _Section) -> dict[str, tuple[int, float]]:
    """`{ "users/bulkUpdate" = "5/s", "export/data.json" = "4/min" }`"""
    limits = {}
    for endpoint, value in section.data.items():
        match = RATE.match(value) if isinstance(value, str) else None
        if not match or int(match[1]) < 1:
            raise section.error(endpoint, f"must read like \"5/s\" or \"4/min\", not {value!r}")
        limits[endpoint] = (int(match[1]), 1.0 if match[2].startswith("s") else 60.0)
    return limits


def _model(m: _Section, sources: dict[str, SourceConfig], dbt_project: Path | None) -> ModelConfig:
    name = _check_name(m, "model")
    m.only("source", "sql", "table", "columns", "dbt", "primary_key", "entity", "description")
    source = m.get("source", str)
    if source not in sources:
        raise m.error("source", f"unknown source '{source}' (sources: {', '.join(sources) or 'none'})")
    sql, table, dbt_name = m.get("sql", str, None), m.get("table", str, None), m.get("dbt", str, None)
    if [sql, table, dbt_name].count(None) != 2:
        raise ConfigError(m.file, m.path, "give one of `sql`, `table` (with `columns`) or `dbt` (a dbt model)")
    if dbt_name is not None:
        key, entity = m.get("primary_key", str), m.get("entity", str, name)
        try:
            dbt = resolve_dbt(m.file, m.key("dbt"), dbt_project, dbt_name, primary_key=key)
        except ConfigError as problem:
            return ModelConfig(name=name, source=source, primary_key=key, entity=entity, dbt_problem=problem)
        return ModelConfig(name=name, source=source, primary_key=key, entity=entity, dbt=dbt,
                           sql=f"SELECT * FROM {dbt.relation(sources[source].type)}")
    columns: tuple[str, ...] = ()
    if table is not None:
        columns = tuple(m.get("columns", list))
        if not columns or not all(isinstance(c, str) and c for c in columns):
            raise m.error("columns", "must be a non-empty list of column names")
    return ModelConfig(name=name, source=source, primary_key=m.get("primary_key", str),
                       entity=m.get("entity", str, name), sql=sql, table=table, columns=columns)


def _sync(s: _Section, models: dict[str, ModelConfig], destinations: dict[str, DestinationConfig]) -> SyncConfig:
    sync_id = _check_name(s, "sync")
    object_keys = sorted({key.name for t in DESTINATION_TYPES.values() for o in t.objects.values()
                          for key in o.sync_keys})
    s.only("name", "model", "destination", "object", "mode", "match", "mappings", "schedule", "cron", "timezone",
           "expected_errors", "failure_threshold", "max_removal_share", *object_keys)
    model = s.get("model", str)
    if model not in models:
        raise s.error("model", f"unknown model '{model}' (models: {', '.join(models) or 'none'})")
    dest = s.get("destination", str)
    if dest not in destinations:
        raise s.error("destination", f"unknown destination '{dest}' (destinations: {', '.join(destinations) or 'none'})")
    objects = DESTINATION_TYPES[destinations[dest].type].objects
    obj = s.get("object", str, choices=tuple(objects))
    mode = s.get("mode", str, choices=objects[obj].modes)
    options = _sync_keys(s, destinations[dest].type, obj, objects[obj])
    event = event_settings(s.path, options) if objects[obj].events else None

    match = s.table("match")
    match.only("field", "column")
    match_field = match.get("field", str, choices=objects[obj].match_fields)
    match_column = match.get("column", str)

    mappings = []
    raw_mappings = s.get("mappings", list, ... if objects[obj].mappings_required else [])
    if not raw_mappings and objects[obj].mappings_required:
        raise s.error("mappings", "must map at least one column to a destination field")
    for i, raw in enumerate(raw_mappings):
        mp = _Section(s.file, f"{s.key('mappings')}[{i}]", raw)
        mp.only("column", "field", "null")
        mappings.append(Mapping(mp.get("column", str), mp.get("field", str),
                                mp.get("null", str, "omit", choices=NULL_HANDLING)))
    fields = [m.field for m in mappings]
    duplicated = sorted({f for f in fields if fields.count(f) > 1})
    if duplicated:
        raise s.error("mappings", f"field(s) {', '.join(duplicated)} mapped more than once")
    if match_field in fields:
        raise s.error("mappings", f"'{match_field}' is the match field (set by [match]); do not map it again")
    reserved = [f for f in fields if f.startswith("@")]
    if reserved:
        raise s.error("mappings", f"field '{reserved[0]}': a field name may not start with '@' (reserved)")
    missing = [f for f in objects[obj].required_fields if f not in fields]
    if missing:
        raise s.error("mappings", f"a sync to {destinations[dest].type} {obj}s must map a column to "
                                  f"{' and '.join(missing)}")

    rules = []
    for i, raw in enumerate(s.get("expected_errors", list, [])):
        r = _Section(s.file, f"{s.key('expected_errors')}[{i}]", raw)
        r.only("code", "message", "reason")
        code, message = r.get("code", str, None), r.get("message", str, None)
        if code is None and message is None:
            raise ConfigError(r.file, r.path, "give `code`, `message` (a pattern with *), or both")
        rules.append(ExpectedErrorRule(code, message, r.get("reason", str, "declared expected in workspace.toml")))

    try:
        schedule = parse_schedule(s.get("schedule", str, None), cron=s.get("cron", str, None),
                                  timezone=s.get("timezone", str, None))
    except ScheduleError as exc:
        raise s.error(exc.key, str(exc)) from None
    threshold = _share(s, "failure_threshold", s.get("failure_threshold", (int, float), 0.1))
    removal_share = _share(s, "max_removal_share", s.get("max_removal_share", (int, float), 0.2))
    return SyncConfig(id=sync_id, name=s.get("name", str, sync_id), model=model, destination=dest, object=obj,
                      mode=mode, match_field=match_field, match_column=match_column, mappings=tuple(mappings),
                      schedule=schedule, expected_errors=tuple(rules), failure_threshold=threshold,
                      max_removal_share=removal_share, event=event, options=options)


def _sync_keys(s: _Section, kind: str, obj: str, declared: ObjectType) -> dict[str, str]:
    """The object's own keys a sync gives (ObjectType.sync_keys), as text; a key of another object is refused,
    naming the object it belongs to."""
    own = {key.name for key in declared.sync_keys}
    for other in (name for name in s.data if name not in own):
        owners = [f'{t.name} {name}s (object = "{name}")' for t in DESTINATION_TYPES.values()
                  for name, o in t.objects.items() if other in {key.name for key in o.sync_keys}]
        if owners:  # another object's key (s.only refused the unknown ones)
            raise s.error(other, f"is not a key of a sync to {kind} {obj}s: it belongs to a sync to "
                                 f"{' or '.join(owners)}")
    groups: dict[str, list[SyncKey]] = {}
    for key in declared.sync_keys:
        if key.one_of:
            groups.setdefault(key.one_of, []).append(key)
        elif key.required and key.name not in s.data:
            raise s.error(key.name, f"is required: give {key.means} ({key.name} = {key.example})")
    for keys in groups.values():
        given = [k.name for k in keys if k.name in s.data]
        if len(given) != 1:
            ways = " or ".join(f"`{k.name} = {k.example}` ({k.means})" for k in keys)
            raise s.error(keys[0].name, f"a sync to {kind} {obj}s gives exactly one of "
                                        f"{' or '.join(k.name for k in keys)}, not both or neither"
                                        + (f" ({' and '.join(given)} are given: keep one)" if given else "")
                                        + f": {ways}")
    options = {}
    for key in (k for k in declared.sync_keys if k.name in s.data):
        value = s.get(key.name, (int, str) if key.whole_number else str)
        if isinstance(value, str) and not value.strip():
            raise s.error(key.name, f"is empty: give {key.means}")
        options[key.name] = str(value)
    return options
