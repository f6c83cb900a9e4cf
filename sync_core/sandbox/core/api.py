"""What every vendor's sandbox does with a request, whatever the vendor: log it, route it, authenticate it, let a
fault answer it, enforce the endpoint's rate limit, then call the vendor's handler.

A vendor subclasses `VendorApi`: its `ROUTES` table, how a request names its account (`account_for`), its error
envelope (`error_reply` and the replies built on it), and any fault kinds of its own (`FAULT_EFFECTS`).
`handle` takes a parsed request and returns (status, headers, body); the body is bytes, or an iterator of bytes
for streamed replies. It raises ConnectionDropped when a fault says the connection closes unanswered.
"""

from __future__ import annotations

import bisect
import json
import math
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterator, Mapping
from urllib.parse import unquote

from ...clock import Clock, SystemClock
from .faults import ConnectionDropped, HeldRequests

Body = bytes | Iterator[bytes]


@dataclass
class Call:
    """What a route handler needs from one request."""

    project: str | None  # the vendor's account the credential belongs to (None: none; refused before handlers)
    path_params: dict[str, str]
    query: dict[str, list[str]]
    body: bytes
    request_id: int
    arrived_at: float  # rate limits count arrivals, as an API gateway does, not the moment work starts
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. the token a handler checks for expiry


@dataclass
class Reply:
    status: int
    body: Body
    code: str | None = "Success"  # the vendor's code, for the request log
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    items: int | None = None
    identifiers: list[str] | None = None
    stored: list[str] | None = None  # identifiers whose write was stored
    fault: str | None = None  # kind of the fault that shaped this reply


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # a regular expression the whole path must match; its named groups are the call's path_params
    endpoint: str  # stable name used by the request log, faults and rate limits
    handler: Callable[[Any, Call], Reply]
    limit: int  # requests per window, per account
    window: float  # seconds
    pattern: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", re.compile(self.path))  # once, when the vendor's table is built


def json_reply(status: int, payload: Any, **extra: Any) -> Reply:
    return Reply(status, json.dumps(payload).encode(), **extra)


class SlidingWindowLimiter:
    """Counts hits per key over the last `window` seconds of the injected clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        # Sorted lists: arrivals can reach the limiter out of order (threads), so they are inserted in place.
        self._hits: dict[Any, list[float]] = defaultdict(list)
        self._lock = threading.Lock()

    def acquire(self, key: Any, limit: int, window: float, *, now: float | None = None) -> float | None:
        """Take a slot at `now` (default: the clock's now) and return None, or the seconds until a slot frees."""
        now = self._clock.now() if now is None else now
        with self._lock:
            hits = self._hits[key]
            del hits[:bisect.bisect_right(hits, now - window)]
            if len(hits) >= limit:
                return hits[-limit] + window - now
            bisect.insort(hits, now)
            return None


class VendorApi:
    ROUTES: ClassVar[tuple[Route, ...]] = ()
    # Fault kind -> what it answers; a vendor adds its own kinds' effects to HTTP_FAULT_EFFECTS.
    FAULT_EFFECTS: ClassVar[dict[str, "FaultEffect"]]

    def __init__(self, state, *, clock: Clock | None = None, rate_limits: bool = True) -> None:
        self.state = state  # the vendor's state class: a RequestLog and a FaultStore, and its own records
        self.clock = clock or SystemClock()
        self.rate_limits = rate_limits
        self._limiter = SlidingWindowLimiter(self.clock)
        self.held = HeldRequests()  # requests parked by `hold` faults

    # --- what a vendor says -------------------------------------------------------------

    def account_for(self, headers: Mapping[str, str], query: dict[str, list[str]]) -> str | None:
        """The account (project) whose credential the request carries, or None."""
        raise NotImplementedError

    def rate_limited_account(self, project: str) -> bool:
        """Whether the account's rate limits apply (a vendor may let tests switch them off per account)."""
        return True

    def error_reply(self, status: int, code: str, message: str, **extra: Any) -> Reply:
        """An error in the vendor's envelope."""
        raise NotImplementedError

    def not_found_reply(self) -> Reply:
        return self.error_reply(404, "NotFound", "No such endpoint")

    def unauthorized_reply(self) -> Reply:
        return self.error_reply(401, "Unauthorized", "Invalid credentials")

    def rate_limited_reply(self, retry_after: int | None) -> Reply:
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        return self.error_reply(429, "RateLimitExceeded", "Rate limit exceeded", headers=headers)

    def server_error_reply(self, status: int, message: str) -> Reply:
        return self.error_reply(status, "GenericError", message)

    # --- the pipeline -------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
        *,
        arrived_at: float | None = None,
    ) -> tuple[int, dict[str, str], Body]:
        started = time.perf_counter()
        arrived_at = self.clock.now() if arrived_at is None else arrived_at
        request_id = self.state.begin_request(at=arrived_at, method=method, path=path)
        route, path_params = self._match(method, path)
        project = self.account_for(headers, query)
        endpoint = route.endpoint if route else "unknown"
        try:
            call = Call(project, path_params, query, body, request_id, arrived_at, headers)
            reply = self._reply(route, call)
        except ConnectionDropped as dropped:
            self.state.finish_request(
                request_id, project=project, endpoint=endpoint, status=None, code=None,
                fault=dropped.kind, duration_ms=(time.perf_counter() - started) * 1000,
            )
            raise
        except Exception as error:  # a sandbox bug must still answer, and be logged
            reply = self.server_error_reply(500, f"{type(error).__name__}: {error}")

        def finish() -> None:
            self.state.finish_request(
                request_id, project=project, endpoint=endpoint, status=reply.status, code=reply.code,
                items=reply.items, identifiers=reply.identifiers, stored=reply.stored, fault=reply.fault,
                duration_ms=(time.perf_counter() - started) * 1000,
            )

        headers_out = {"Content-Type": reply.content_type, **reply.headers}
        if isinstance(reply.body, bytes):
            finish()
            return reply.status, headers_out, reply.body
        return reply.status, headers_out, _finish_when_streamed(reply.body, finish)

    def _reply(self, route: Route | None, call: Call) -> Reply:
        if route is None:
            return self.not_found_reply()
        if call.project is None:
            return self.unauthorized_reply()
        # Faults see only authenticated requests of known endpoints, so a fault's request
        # numbers (after, times, probability) count the requests a client means to make.
        fault = self.state.take_fault(route.endpoint, call.body)
        if fault is None:
            return self._process(route, call)
        reply = self.FAULT_EFFECTS[fault.kind](self, fault.params, lambda: self._process(route, call))
        reply.fault = fault.kind
        return reply

    def _process(self, route: Route, call: Call) -> Reply:
        """What the vendor answers without faults: the rate limit, then the endpoint."""
        if self.rate_limits and self.rate_limited_account(call.project):
            wait = self._limiter.acquire((call.project, route.endpoint), route.limit, route.window,
                                         now=call.arrived_at)
            if wait is not None:
                return self.rate_limited_reply(max(1, math.ceil(wait)))
        return route.handler(self, call)

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in self.ROUTES:
            found = route.pattern.fullmatch(path)
            if found and route.method == method:
                # decode after matching, so an encoded "/" stays inside one path segment
                return route, {name: unquote(value) for name, value in found.groupdict().items()}
        return None, {}


def _finish_when_streamed(chunks: Iterator[bytes], finish: Callable[[], None]) -> Iterator[bytes]:
    """Log a streamed reply once it is fully sent (or abandoned)."""
    try:
        yield from chunks
    finally:
        finish()


# --- fault effects of HTTP itself -------------------------------------------------------
# Each takes the fault's params and `process`, which answers the request as without faults;
# a fault that refuses the request never calls it, so nothing is stored or rate-limited.
FaultEffect = Callable[[VendorApi, dict, Callable[[], Reply]], Reply]


def _rate_limited(api: VendorApi, params: dict, process: Callable[[], Reply]) -> Reply:
    if params["body"] == "text":
        headers = {"Retry-After": str(params["retry_after"])} if "retry_after" in params else {}
        return Reply(429, b"Rate limit exceeded", code="RateLimitExceeded", content_type="text/plain",
                     headers=headers)
    return api.rate_limited_reply(params.get("retry_after"))


def _server_error(api: VendorApi, params: dict, process: Callable[[], Reply]) -> Reply:
    return api.server_error_reply(params["status"], f"Sandbox fault: HTTP {params['status']}")


def _slow(api: VendorApi, params: dict, process: Callable[[], Reply]) -> Reply:
    time.sleep(params["delay"])  # real seconds, not the clock's: it must outlast real timeouts
    return process()


def _drop(api: VendorApi, params: dict, process: Callable[[], Reply]) -> Reply:
    raise ConnectionDropped("drop")


def _malformed(api: VendorApi, params: dict, process: Callable[[], Reply]) -> Reply:
    reply = process()
    body = reply.body if isinstance(reply.body, bytes) else b"".join(reply.body)
    # Every body (and every exported line) is a JSON object, so with its trailing "}" and
    # newlines stripped the last value is always incomplete.
    reply.body = body[: len(body) // 2].rstrip(b"}\n")
    return reply


def _unauthorized(api: VendorApi, params: dict, process: Callable[[], Reply]) -> Reply:
    return api.unauthorized_reply()  # as for a revoked key


def _hold(api: VendorApi, params: dict, process: Callable[[], Reply]) -> Reply:
    if api.held.hold():
        raise ConnectionDropped("hold")
    return process()


HTTP_FAULT_EFFECTS: dict[str, FaultEffect] = {
    "rate_limit": _rate_limited,
    "server_error": _server_error,
    "slow": _slow,
    "drop": _drop,
    "malformed": _malformed,
    "unauthorized": _unauthorized,
    "hold": _hold,
}
VendorApi.FAULT_EFFECTS = HTTP_FAULT_EFFECTS
