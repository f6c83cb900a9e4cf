"""Real HTTP on loopback for a vendor's sandbox: a threading HTTP/1.1 server with keep-alive."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

from ...clock import Clock, SystemClock
from .api import Body, VendorApi
from .faults import ConnectionDropped
from .vendor import Vendor

_JSON = {"Content-Type": "application/json"}
_SHUTDOWN_POLL_SECONDS = 0.05  # how long stop() may wait for the serving loop to notice
# Sandbox-only endpoints: no credential, not logged, never rate limited.
_ADMIN_ROUTES = {
    "/_sandbox/health": lambda: (200, _JSON, json.dumps({"ok": True}).encode()),
}


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True  # open keep-alive connections must not block shutdown

    def __init__(self, address: tuple[str, int], api: VendorApi) -> None:
        self.api = api
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a requests.Session reuses connections
    timeout = 120  # seconds an idle keep-alive connection may hold its thread
    server: _HttpServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle's algorithm and
        # the client's delayed ACK add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the request log in SQLite is the record; stderr stays quiet

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        # A request arrives with its headers; reading a large body under load takes a while, and a gateway
        # counts the request against the rate limit when it arrives.
        arrived_at = self.server.api.clock.now()
        try:
            body = self._read_body()
            admin = _ADMIN_ROUTES.get(url.path)
            if admin is not None:
                status, headers, payload = admin()
            else:
                query = parse_qs(url.query, keep_blank_values=True)
                status, headers, payload = self.server.api.handle(
                    self.command, url.path, query, self.headers, body, arrived_at=arrived_at
                )
        except ConnectionDropped:
            self.close_connection = True  # closed with no answer at all, as a crashed proxy would
            return
        except Exception as error:  # never leave the client without an answer
            reply = self.server.api.server_error_reply(500, f"{type(error).__name__}: {error}")
            status, headers, payload = reply.status, {"Content-Type": reply.content_type}, reply.body
        try:
            self._send(status, headers, payload)
        except ConnectionError:
            self.close_connection = True  # the client went away mid-answer

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked_body()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _read_chunked_body(self) -> bytes:
        parts = []
        while size := int(self.rfile.readline().split(b";")[0], 16):
            parts.append(self.rfile.read(size))
            self.rfile.readline()  # CRLF after each chunk
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(parts)

    def _send(self, status: int, headers: dict[str, str], payload: Body) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if isinstance(payload, bytes):
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        # Streamed: chunked transfer, so huge exports never sit in memory whole.
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in payload:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        finally:
            payload.close()  # runs the stream's cleanup even if the client hung up


class SandboxServer:
    """A vendor's sandbox on a real port; `port=0` picks a free one.

    Faults come from the state file (`state.add_fault`, from this or any process). Requests
    held by a `hold` fault wait for `release_held` on this object, so that kind is only
    useful with a server running in the test's own process.

    A vendor's own class names its vendor once (`VENDOR = ITERABLE`) and is built with the state path alone.
    """

    VENDOR: ClassVar[Vendor | None] = None

    def __init__(
        self,
        state_path: str | Path,
        vendor: Vendor | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limits: bool = True,
        clock: Clock | None = None,
    ) -> None:
        vendor = vendor or self.VENDOR
        if vendor is None:
            raise TypeError(f"{type(self).__name__} needs a vendor: SandboxServer(path, vendor)")
        self.vendor = vendor
        self.state = vendor.state(state_path)
        self.clock = clock or SystemClock()
        self.api = vendor.api(self.state, clock=self.clock, rate_limits=rate_limits)
        self._httpd = _HttpServer((host, port), self.api)  # bound now, so .url is known
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return self._httpd.server_address[0]

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            args=(_SHUTDOWN_POLL_SECONDS,),
            name=f"{self.vendor.name}-sandbox:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def wait_for_held(self, count: int = 1, timeout: float = 10) -> bool:
        """True once `count` requests are held by `hold` faults; False after `timeout` s."""
        return self.api.held.wait_for(count, timeout)

    def release_held(self, drop: bool = True) -> int:
        """Let held requests go: dropped unanswered (as if the client died) or processed.

        Returns how many were held.
        """
        return self.api.held.release(drop=drop)

    def stop(self) -> None:
        self.release_held(drop=True)  # a held request must not outlive its server
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()
        self.state.close()

    def __enter__(self) -> SandboxServer:
        return self if self._thread else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
