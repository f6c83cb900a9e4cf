"""Real receivers of alerts on loopback: a webhook (http.server, in a thread) and an SMTP server (aiosmtpd).

In a module of its own with a name no other test module has (the test folders have no __init__.py)."""

from __future__ import annotations

import json
import socket
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Webhook:
    """Answers each POST with the next of `answers` (then the last again); records the JSON bodies it took.
    `hang=True`: accepts the request and never answers (until the test ends)."""

    def __init__(self, answers=(200,), *, hang: bool = False, echo_path: bool = False):
        self.answers, self.hang, self.echo_path = list(answers), hang, echo_path
        self.bodies: list[dict] = []  # every request's body, answered or not
        self.released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                if receiver.hang:
                    receiver.released.wait()
                    return
                status = receiver.answers.pop(0) if len(receiver.answers) > 1 else receiver.answers[0]
                # A server that echoes the request's path: the path of a Slack webhook is its secret.
                text = f"{'no_service at ' + self.path if receiver.echo_path else 'ok'}".encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    @property
    def texts(self) -> list[str]:
        return [b["text"] for b in self.bodies]

    def __enter__(self) -> "Webhook":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class _FreePortController(Controller):
    """aiosmtpd's Controller bound to a free port (it connects to its `port` to check it started)."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class Inbox:
    """An SMTP server on 127.0.0.1 keeping what it is sent. With `login`, it offers AUTH (over plain text, on
    loopback) and takes only that (username, password); with `refuse`, it refuses every message with that reply."""

    def __init__(self, *, login: tuple[str, str] | None = None, refuse: str | None = None):
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse = refuse
        kwargs = {}
        if login:
            kwargs = {"authenticator": lambda server, session, envelope, mechanism, data: AuthResult(
                success=(data.login.decode(), data.password.decode()) == login, handled=False),
                "auth_require_tls": False}
        self.controller = _FreePortController(self, hostname="127.0.0.1", port=0, **kwargs)

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return self.refuse
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"

    @property
    def port(self) -> int:
        return self.controller.port

    def __enter__(self) -> "Inbox":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (just released by the kernel's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
