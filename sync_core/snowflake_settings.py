"""A `type = "snowflake"` source in workspace.toml: where to connect and how to log in, secrets by reference.

Either a connection of the connector's connections.toml (`connection = "NAME"`), or the options here, or both
(the options here win). The connection name and the secrets are resolved when a run opens the source, not when
the workspace is read: the worker and the dashboard may run on hosts with other files and variables.

Kept apart from config.py (which calls `parse`) so that config.py stays about the workspace as a whole; it
imports nothing of config.py's, which imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .secrets import SecretRef, parse_secret_ref

KEYS = ("type", "connection", "account", "user", "role", "warehouse", "database", "schema", "password",
        "private_key_file", "private_key", "private_key_passphrase", "host", "port", "protocol",
        "statement_timeout_seconds", "network_timeout_seconds", "password_expiry_days", "password_warn_days")
# Snowflake's own default is 2 days; a run stuck that long would hold its sync's lease all the while.
DEFAULT_STATEMENT_TIMEOUT = 3600
# The connector retries a request that gets no answer for ever unless told otherwise: a Snowflake that stops
# answering mid-run would hang the run (and, at exit, the process). After this long the run fails instead.
DEFAULT_NETWORK_TIMEOUT = 300
# Snowflake's password policy for the seed's service user: a new password every 90 days (credential_age.py warns
# this many days ahead).
DEFAULT_PASSWORD_EXPIRY_DAYS = 90
DEFAULT_PASSWORD_WARN_DAYS = 14


@dataclass(frozen=True)
class SnowflakeSettings:
    file: str  # workspace.toml, for errors found when the source is opened
    key: str  # "sources.<name>"
    root: Path  # the workspace folder, where `secrets:` references are read
    connection: str | None = None
    account: str | None = None
    user: str | None = None
    role: str | None = None
    warehouse: str | None = None
    database: str | None = None
    schema: str | None = None
    password: SecretRef | None = None
    private_key_file: Path | None = None
    private_key: SecretRef | None = None  # the PEM text itself
    private_key_passphrase: SecretRef | None = None
    # A private link, a proxy, or a local emulator: left to the connector's defaults otherwise.
    host: str | None = None
    port: int | None = None
    protocol: str | None = None
    statement_timeout_seconds: int = DEFAULT_STATEMENT_TIMEOUT
    network_timeout_seconds: int = DEFAULT_NETWORK_TIMEOUT
    password_expiry_days: int = DEFAULT_PASSWORD_EXPIRY_DAYS  # the account's password policy (MAX_AGE_DAYS)
    password_warn_days: int = DEFAULT_PASSWORD_WARN_DAYS  # warn this many days before the password expires

    def plain_options(self) -> dict[str, Any]:
        """The options given here that are not secrets, as the connector names them."""
        names = ("account", "user", "role", "warehouse", "database", "schema", "host", "port", "protocol")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


def parse(section: Any, root: Path) -> SnowflakeSettings:
    """`section` is config._Section (file, path, get, error, only)."""
    section.only(*KEYS)
    text = {n: section.get(n, str, None) for n in ("connection", "account", "user", "role", "warehouse",
                                                     "database", "schema", "host", "protocol")}
    for name, value in text.items():
        if value is not None and not value.strip():
            raise section.error(name, "must not be empty (leave the key out instead)")
    if text["connection"] is None:
        for name in ("account", "user"):
            if text[name] is None:
                raise section.error(name, "is required (or name a connection of connections.toml with "
                                          "`connection = \"NAME\"`)")

    def secret(name: str) -> SecretRef | None:
        if name not in section.data:
            return None
        return parse_secret_ref(section.data[name], section.file, section.key(name))

    password, private_key = secret("password"), secret("private_key")
    key_file = section.get("private_key_file", str, None)
    given = [n for n, v in (("password", password), ("private_key", private_key), ("private_key_file", key_file))
             if v is not None]
    if len(given) > 1:
        raise section.error(given[1], f"give one way to log in, not both {given[0]} and {given[1]}")
    if not given and text["connection"] is None:
        raise section.error("password", "is required: give `password` or, better for a service, `private_key_file` "
                                        "or `private_key` (key-pair auth), each a secret reference but the file")
    passphrase = secret("private_key_passphrase")
    if passphrase is not None and password is not None:
        raise section.error("private_key_passphrase", "goes with private_key or private_key_file, not a password")
    port = section.get("port", int, None)
    if port is not None and not 0 < port < 65536:
        raise section.error("port", f"must be a TCP port, 1 to 65535, not {port}")
    if text["protocol"] not in (None, "http", "https"):
        raise section.error("protocol", f"must be https (or http for a local emulator), not {text['protocol']!r}")
    timeouts = {name: section.get(name, int, default) for name, default in (
        ("statement_timeout_seconds", DEFAULT_STATEMENT_TIMEOUT), ("network_timeout_seconds", DEFAULT_NETWORK_TIMEOUT))}
    for name, seconds in timeouts.items():
        if seconds < 1:
            raise section.error(name, "must be at least 1 second")
    expiry, warn = _password_age_limits(section, key_pair=private_key is not None or key_file is not None)
    return SnowflakeSettings(
        file=section.file, key=section.path, root=root, **text, password=password,
        private_key_file=(root / key_file).expanduser().resolve() if key_file else None,
        private_key=private_key, private_key_passphrase=passphrase, port=port, **timeouts,
        password_expiry_days=expiry, password_warn_days=warn)


# -- [snowflake_emulator]: the demo's local Snowflake ---------------------------------------------------------

EMULATOR_HOSTS = ("127.0.0.1", "localhost")
DEFAULT_EMULATOR_PORT = 8767  # the demo's: after the Iterable (8765) and Marketo (8766) sandboxes
HEALTH_PATH = "/_sync_core/health"  # the emulator's own routes, beside Snowflake's
RELOAD_PATH = "/_sync_core/reload"


@dataclass(frozen=True)
class EmulatorSettings:
    """`[snowflake_emulator]`: a local Snowflake emulator serving a `type = "snowflake"` source of this workspace,
    loaded from a DuckDB file (the demo warehouse). Where it listens, its database and schema and the password it
    accepts are the source's own options, so each is written once."""
    source: str  # the name of the source it serves
    load: Path  # the DuckDB file whose tables it loads, at start and on `demo advance`
    host: str
    port: int
    database: str
    schema: str
    password: SecretRef | None

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"


def parse_emulator(section: Any, root: Path, sources: dict[str, Any]) -> EmulatorSettings:
    """`section` is config._Section; `sources` the workspace's SourceConfigs by name."""
    section.only("source", "load")
    name = section.get("source", str)
    source = sources.get(name)
    if source is None or source.snowflake is None:
        snowflake = ", ".join(n for n, s in sources.items() if s.snowflake is not None) or "none"
        raise section.error("source", f"must name a source of type \"snowflake\" (those here: {snowflake})")
    s: SnowflakeSettings = source.snowflake
    needed = {"host": ("127.0.0.1", s.host in EMULATOR_HOSTS), "port": ("a port", s.port is not None),
              "protocol": ("http", s.protocol == "http"), "database": ("a database", s.database is not None),
              "schema": ("a schema", s.schema is not None)}
    for option, (value, given) in needed.items():
        if not given:
            raise section.error("source", f"source '{name}' must give {option} = {value} for an emulator on this "
                                          "machine to serve it")
    load = (root / section.get("load", str)).resolve()
    return EmulatorSettings(source=name, load=load, host=s.host, port=s.port, database=s.database.upper(),
                            schema=s.schema.upper(), password=s.password)


def _password_age_limits(section: Any, *, key_pair: bool) -> tuple[int, int]:
    """password_expiry_days and password_warn_days: when the password expires, and how long before to warn."""
    if key_pair:
        for name in ("password_expiry_days", "password_warn_days"):
            if name in section.data:
                raise section.error(name, "applies to password logins only: a key pair does not expire (leave "
                                          "the key out)")
    expiry = section.get("password_expiry_days", int, DEFAULT_PASSWORD_EXPIRY_DAYS)
    if expiry < 1:
        raise section.error("password_expiry_days", f"must be at least 1 day (the account's password policy, "
                                                    f"Snowflake's default 90), not {expiry}")
    warn = section.get("password_warn_days", int, min(DEFAULT_PASSWORD_WARN_DAYS, expiry - 1))
    if not 0 <= warn < expiry:
        raise section.error("password_warn_days", f"must be 0 or more and less than password_expiry_days "
                                                  f"({expiry}), not {warn}")
    return expiry, warn
