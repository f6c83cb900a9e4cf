"""A minimal Iterable-shaped receiver for the peer benchmark: `POST /api/users/bulkUpdate` answered as Iterable
answers it, with no rate limit, counting the users it receives so the benchmark can check each tool delivered
every row. It runs in its own process, as a vendor would:

    python bench/peer_receiver.py --port 8765

`GET /_count` answers {"requests", "users", "distinct"}: requests answered, users received, and distinct
identifiers among them (email or userId; a tool that resent a batch has more users than distinct ones).
`POST /_reset` zeroes the counts before a run. Nothing is stored but the identifiers seen.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BULK_UPDATE = "/api/users/bulkUpdate"
FAILED_LISTS = ("invalidEmails", "invalidUserIds", "invalidDataEmails", "invalidDataUserIds", "forgottenEmails",
                "forgottenUserIds", "conflictEmails", "conflictUserIds", "notFoundEmails", "notFoundUserIds")


class Tally:
    """What the receiver has been sent since the last reset; shared by the server's threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests, self.users, self.seen = 0, 0, set()

    def add(self, identifiers: list[str]) -> None:
        with self._lock:
            self.requests += 1
            self.users += len(identifiers)
            self.seen.update(identifiers)

    def counts(self) -> dict:
        with self._lock:
            return {"requests": self.requests, "users": self.users, "distinct": len(self.seen)}


def bulk_update_answer(users: list) -> tuple[int, dict]:
    """(HTTP status, body) for a bulkUpdate body's `users`, in Iterable's shape: every user with an identifier
    succeeds; one without is refused as Iterable refuses it (BadParams for a body that is not a user list)."""
    if not isinstance(users, list) or not all(isinstance(u, dict) for u in users):
        return 400, {"msg": "users must be a list of user objects", "code": "BadParams", "params": None}
    missing = [u for u in users if not (u.get("email") or u.get("userId"))]
    if missing:
        return 400, {"msg": f"{len(missing)} users have neither an email nor a userId", "code": "BadParams",
                     "params": None}
    return 200, {"successCount": len(users), "failCount": 0, "invalidEmails": [], "invalidUserIds": [],
                 "filteredOutFields": [], "createdFields": [], "failedUpdates": {name: [] for name in FAILED_LISTS}}


def handler_for(tally: Tally) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as every tool's HTTP client expects of an API
        # The headers and the body go out in two writes: with Nagle's algorithm on, the second waits for the
        # client's delayed ACK of the first (40 ms a request on Linux loopback, for every tool alike). An API's
        # server sends without that wait.
        disable_nagle_algorithm = True

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/_reset":
                tally.reset()
                return self._answer(200, {"reset": True})
            if self.path.split("?")[0] != BULK_UPDATE:
                return self._answer(404, {"msg": f"no route {self.path}", "code": "NotFound", "params": None})
            try:
                users = json.loads(body).get("users")
            except (ValueError, AttributeError):
                return self._answer(400, {"msg": "the body is not a JSON object", "code": "BadJsonBody",
                                          "params": None})
            status, answer = bulk_update_answer(users)
            if status == 200:
                tally.add([str(u.get("email") or u.get("userId")) for u in users])
            self._answer(status, answer)

        def do_GET(self):
            if self.path == "/_count":
                return self._answer(200, tally.counts())
            self._answer(404, {"msg": f"no route {self.path}", "code": "NotFound", "params": None})

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):  # a line per request would cost the receiver more than the answer
            pass

    return Handler


def serve(port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), handler_for(Tally()))
    server.daemon_threads = True
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    server = serve(parser.parse_args().port)
    print(f"receiver listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
