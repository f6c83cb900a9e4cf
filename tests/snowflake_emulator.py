"""A Snowflake emulator on loopback: fakesnow's server, which speaks Snowflake's HTTP protocol, so the real
connector and a real Snowpark session talk to it over the wire.

In front of it, a thin ASGI layer of ours records each login's session parameters (never its password: the
emulator cannot show QUERY_TAG applied, but the wire shows it sent) and can refuse logins the way Snowflake
does (`refuse_logins`: HTTP 200, `success: false`, Snowflake's code and message), so the connector raises its
own exception from its own parsing, as it would against Snowflake. The emulator accepts any password, so an
expired one cannot happen there otherwise.

In its own module (not conftest.py) so that tests import it by a name no other conftest.py shadows."""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

import fakesnow.server
import snowflake.connector
import uvicorn
from starlette.responses import JSONResponse

LOGIN_PATH = "/session/v1/login-request"
EXPIRED_PASSWORD = (390106, "Specified password has expired.  Password must be changed using the Snowflake web "
                            "console.")


@dataclass
class Emulator:
    host: str
    port: int
    logins: list[dict] = field(default_factory=list)  # LOGIN_NAME, SESSION_PARAMETERS, CLIENT_APP_ID per login
    refusal: tuple[int, str] | None = None

    @property
    def options(self) -> dict:
        """Connector options reaching this emulator (any user and password log in)."""
        return dict(account="fakesnow", user="fake", password="snow", host=self.host, port=self.port,
                    protocol="http", session_parameters={"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False})

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

    def sql(self, database: str, statement: str) -> list[tuple]:
        with contextlib.closing(snowflake.connector.connect(**self.options, database=database, schema="S")) as con, \
                con.cursor() as cur:
            return cur.execute(statement).fetchall()

    @contextlib.contextmanager
    def refuse_logins(self, code: int, message: str):
        self.refusal = (code, message)
        try:
            yield
        finally:
            self.refusal = None

    async def app(self, scope, receive, send):
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
        if self.refusal is not None:
            code, text = self.refusal
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

        return await fakesnow.server.app(scope, replay, send)


@contextlib.contextmanager
def snowflake_emulator():
    host = "127.0.0.1"
    with contextlib.closing(socket.socket()) as sock:
        sock.bind((host, 0))
        port = sock.getsockname()[1]
    emulator = Emulator(host, port)
    server = uvicorn.Server(uvicorn.Config(emulator.app, host=host, port=port, log_level="warning",
                                           interface="asgi3"))
    thread = threading.Thread(target=server.run, name="snowflake emulator", daemon=True)
    thread.start()
    while thread.is_alive() and not server.started:
        time.sleep(0.05)
    if not server.started:
        raise RuntimeError("the Snowflake emulator did not start")
    try:
        yield emulator
    finally:
        server.should_exit = True
        thread.join()
