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
    answering: bool = True  # False: every request but a login gets 503, as from a Snowflake that went away

    @property
    def options(self) -> dict:
        """Connector options reaching this emulator (any user and password log in)."""
        return dict(account="fakesnow", user="fake", password="snow", host=self.host, port=self.port,
                    protocol="http", session_parameters={"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False})

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

    @contextlib.contextmanager
    def unanswering(self):
        self.answering = False
        try:
            yield
        finally:
            self.answering = True

    async def app(self, scope, receive, send):
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

        return await fakesnow.server.app(scope, replay, _with_master_token(send))


def _with_master_token(send):
    """Snowflake's login answer carries a master token, which the connector needs to end the session when it
    closes; fakesnow's has none, so the connector's close() stopped half-way and left the connection open, and
    at interpreter exit Snowpark retried closing it against the stopped emulator for ever (a CI run that never
    ended). Added here, as Snowflake would send it."""
    start: dict = {}

    async def sending(message):
        if message["type"] == "http.response.start":
            start.update(message)
            return
        answer = json.loads(message["body"])
        if answer.get("success") and isinstance(answer.get("data"), dict):
            answer["data"].setdefault("masterToken", "master-" + answer["data"]["token"])
        body = json.dumps(answer).encode()
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        await send({**start, "headers": headers + [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return sending


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
