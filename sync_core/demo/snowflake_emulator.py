"""A Snowflake emulator on loopback: fakesnow's server, which speaks Snowflake's HTTP protocol, so the real
connector and a real Snowpark session talk to it over the wire. The Snowflake demo serves its warehouse with it
(`sync-core demo emulator`, which `sync-core up` starts), and the tests and the benchmark run it in a thread.

In front of it, a thin ASGI layer of ours:
- records each login's session parameters (never its password: the emulator cannot show QUERY_TAG applied, but
  the wire shows it sent);
- checks the password when it is given one (the demo's, from its secret reference), and can refuse logins the
  way Snowflake does (`refuse_logins`: HTTP 200, `success: false`, Snowflake's code and message), so the
  connector raises its own exception from its own parsing, as it would against Snowflake;
- loads a DuckDB file's tables (the demo warehouse) into a database and schema of the emulator, at start and
  when asked (`POST /_sync_core/reload`, after `demo advance`); `GET /_sync_core/health` says it is up.

fakesnow is the `snowflake-demo` extra (and in `dev`); without it, importing this module says how to install it.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import socket
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, SyncCoreError
from ..snowflake_settings import HEALTH_PATH, RELOAD_PATH


class EmulatorMissing(SyncCoreError):
    """fakesnow (the `snowflake-demo` extra) is not installed."""
    error_class = "config"


try:
    import fakesnow.server
    import uvicorn
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse
except ImportError as exc:  # an optional extra: say how to get it, wherever it is first needed
    raise EmulatorMissing(f"the Snowflake demo needs its local emulator, which is not installed ({exc.name} is "
                          "missing): install it with `pip install -e \".[snowflake-demo]\"` (from the sync-core "
                          "folder), then run the Snowflake demo again") from None

import snowflake.connector

LOGIN_PATH = "/session/v1/login-request"
EXPIRED_PASSWORD = (390106, "Specified password has expired.  Password must be changed using the Snowflake web "
                            "console.")
WRONG_PASSWORD = (390100, "Incorrect username or password was specified.")
_LOADING = "sync_core_load"  # the alias a loaded DuckDB file is attached under, while it is copied


@dataclass
class Emulator:
    host: str
    port: int
    password: str | None = None  # None: any password logs in
    logins: list[dict] = field(default_factory=list)  # LOGIN_NAME, SESSION_PARAMETERS, CLIENT_APP_ID per login
    refusal: tuple[int, str] | None = None
    loads: list[tuple[Path, str, str]] = field(default_factory=list)  # (DuckDB file, database, schema) to reload
    answering: bool = True  # False: every request but a login gets 503, as from a Snowflake that went away

    @property
    def options(self) -> dict:
        """Connector options reaching this emulator."""
        return dict(account="fakesnow", user="fake", password=self.password or "snow", host=self.host,
                    port=self.port, protocol="http",
                    session_parameters={"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False})

    def source_line(self, database: str, *, password_env: str, **extra: str) -> str:
        """A workspace.toml line: source `wh`, a Snowflake source reaching this emulator with the password in
        the environment variable `password_env`, reading `database`, schema S; `extra` adds or replaces options."""
        options = {"type": "snowflake", "account": "fakesnow", "user": "sync_user", "password": f"env:{password_env}",
                   "host": self.host, "port": self.port, "protocol": "http", "database": database, "schema": "S",
                   **extra}
        listed = ", ".join(f"{k} = {json.dumps(v)}" for k, v in options.items())
        return f"sources.wh = {{ {listed} }}"

    def database(self, ddl: list[str]) -> str:
        """A database of its own (the emulator's tables are shared by every session), schema S, holding what
        `ddl` creates; returns its name."""
        name = "DB_" + uuid.uuid4().hex[:10].upper()
        with contextlib.closing(snowflake.connector.connect(**self.options)) as con, con.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
            cur.execute(f"CREATE SCHEMA {name}.S")
            cur.execute(f"USE SCHEMA {name}.S")
            for statement in ddl:
                cur.execute(statement)
        return name

    def sql(self, database: str, statement: str, schema: str = "S") -> list[tuple]:
        with contextlib.closing(snowflake.connector.connect(**self.options, database=database, schema=schema)) \
                as con, con.cursor() as cur:
            return cur.execute(statement).fetchall()

    def load(self, duckdb_file: Path, database: str, schema: str) -> dict[str, int]:
        """Every table of `duckdb_file` copied into `database.schema`, replacing what was there, its names
        upper-cased as Snowflake stores unquoted ones; the file is open (read-only) only while it is copied.
        Returns rows per table. Remembered, so `reload` copies the file again."""
        if not duckdb_file.is_file():
            raise FileNotFoundError(f"{duckdb_file} does not exist: the emulator has no warehouse to load")
        fakesnow.server.shared_fs.connect(database, schema).close()  # creates them as a login would
        target = f"{database}.{schema}"
        cur = fakesnow.server.shared_fs.duck_conn.cursor()
        path = str(duckdb_file).replace("'", "''")
        cur.execute(f"ATTACH '{path}' AS {_LOADING} (READ_ONLY)")
        try:
            tables = [t for (t,) in cur.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = ? "
                                                "AND schema_name = 'main' ORDER BY table_name", [_LOADING]).fetchall()]
            counts = {}
            cur.execute("BEGIN")  # a run reading the tables meanwhile sees them all before, or all after
            try:
                for table in tables:
                    columns = [c for (c,) in cur.execute(
                        "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND table_name = ? "
                        "ORDER BY column_index", [_LOADING, table]).fetchall()]
                    select = ", ".join(f'"{c}" AS "{c.upper()}"' for c in columns)
                    cur.execute(f'CREATE OR REPLACE TABLE {target}."{table.upper()}" AS '
                                f'SELECT {select} FROM {_LOADING}.main."{table}"')
                    counts[table.upper()] = cur.execute(
                        f'SELECT count(*) FROM {target}."{table.upper()}"').fetchone()[0]
            except BaseException:
                cur.execute("ROLLBACK")  # the tables as they were: a failed load serves yesterday, not half a day
                raise
            cur.execute("COMMIT")
        finally:
            cur.execute(f"DETACH {_LOADING}")
            cur.close()
        if (duckdb_file, database, schema) not in self.loads:
            self.loads.append((duckdb_file, database, schema))
        return counts

    def reload(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for duckdb_file, database, schema in self.loads:
            counts.update(self.load(duckdb_file, database, schema))
        return counts

    @contextlib.contextmanager
    def unanswering(self):
        self.answering = False
        try:
            yield
        finally:
            self.answering = True

    @contextlib.contextmanager
    def refuse_logins(self, code: int, message: str):
        self.refusal = (code, message)
        try:
            yield
        finally:
            self.refusal = None

    async def app(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] in (HEALTH_PATH, RELOAD_PATH):
            return await self._control(scope, receive, send)
        if scope["type"] == "http" and scope["path"] != LOGIN_PATH and not self.answering:
            return await JSONResponse({"message": "Service Unavailable"}, status_code=503)(scope, receive, send)
        if scope["type"] != "http" or scope["path"] != LOGIN_PATH:
            return await fakesnow.server.app(scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = dict(scope["headers"])
        data = json.loads(gzip.decompress(body) if headers.get(b"content-encoding") == b"gzip" else body)["data"]
        self.logins.append({k: data.get(k) for k in ("LOGIN_NAME", "SESSION_PARAMETERS", "CLIENT_APP_ID",
                                                      "AUTHENTICATOR")})
        refusal = self.refusal
        if refusal is None and self.password is not None and data.get("PASSWORD") != self.password:
            refusal = WRONG_PASSWORD
        if refusal is not None:
            code, text = refusal
            # Snowflake's login refusal: HTTP 200, success false, its code as text.
            reply = JSONResponse({"data": {"errorCode": str(code), "nextAction": None}, "code": str(code),
                                  "message": text, "success": False})
            return await reply(scope, receive, send)
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        answer = await fakesnow.server.login_request(Request(scope, replay))
        reply = json.loads(answer.body)
        if reply.get("success"):
            # fakesnow gives no master token, without which the connector cannot log out: its close() stops
            # half-way and leaves the session open, and Snowpark's exit handler then retries closing it against
            # an emulator long gone (minutes, at the exit of every process that used one). Snowflake gives one.
            reply["data"]["masterToken"] = reply["data"]["token"]
        return await JSONResponse(reply, status_code=answer.status_code)(scope, receive, send)

    async def _control(self, scope, receive, send):
        if scope["path"] == HEALTH_PATH:
            reply = JSONResponse({"ok": True, "loaded": [str(f) for f, _, _ in self.loads]})
        elif scope["method"] != "POST":
            reply = JSONResponse({"error": "POST to reload"}, status_code=405)
        else:
            try:
                reply = JSONResponse({"tables": await run_in_threadpool(self.reload)})
            except Exception as exc:  # noqa: BLE001 - told to the caller (demo advance), which reports it
                reply = JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, status_code=500)
        return await reply(scope, receive, send)


def quiet() -> None:
    """No line per login, nor a warning per query about an Arrow copy: noise in the terminal of a process
    serving the emulator."""
    logging.getLogger("fakesnow.server").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")


def server(emulator: Emulator) -> "uvicorn.Server":
    return uvicorn.Server(uvicorn.Config(emulator.app, host=emulator.host, port=emulator.port, log_level="warning",
                                         interface="asgi3"))


@contextlib.contextmanager
def snowflake_emulator(password: str | None = None, port: int = 0):
    """An emulator on loopback (`port`, or a free one), served by a thread of this process while the block runs."""
    host = "127.0.0.1"
    if not port:
        with contextlib.closing(socket.socket()) as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
    emulator = Emulator(host, port, password=password)
    served = server(emulator)
    thread = threading.Thread(target=served.run, name="snowflake emulator", daemon=True)
    thread.start()
    while thread.is_alive() and not served.started:
        time.sleep(0.05)
    if not served.started:
        raise RuntimeError("the Snowflake emulator did not start")
    try:
        yield emulator
    finally:
        served.should_exit = True
        thread.join()


def serve(workspace) -> int:
    """`sync-core demo emulator`: the workspace's [snowflake_emulator], loaded, until Ctrl-C or SIGTERM."""
    settings = workspace.snowflake_emulator
    if settings is None:
        raise ConfigError(workspace.file, "snowflake_emulator", "is missing: this workspace has no Snowflake "
                                                                "emulator (write one with `sync-core demo init "
                                                                "--source snowflake DIR`)")
    quiet()
    password = settings.password.resolve(workspace.root) if settings.password else None
    emulator = Emulator(settings.host, settings.port, password=password)
    counts = emulator.load(settings.load, settings.database, settings.schema)
    print(f"Snowflake emulator: http://{settings.host}:{settings.port}, database {settings.database}, schema "
          f"{settings.schema}: {', '.join(f'{t} {n:,}' for t, n in counts.items())} rows, from {settings.load}",
          flush=True)
    server(emulator).run()  # uvicorn stops on SIGINT and SIGTERM
    return 0
