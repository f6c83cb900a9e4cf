"""Iterable's user API as the sandbox answers it, independent of the HTTP server.

`IterableApi.handle` takes a parsed request and returns (status, headers, body); the body
is bytes, or an iterator of bytes for streamed exports. It raises ConnectionDropped when a
fault says the connection closes unanswered. Routes are one table, so new endpoints are new
rows; fault kinds are another (`_FAULT_EFFECTS`).
"""

from __future__ import annotations

import bisect

import calendar
import json
import math
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import unquote

from ..clock import Clock, SystemClock
from .faults import ConnectionDropped, HeldRequests
from .state import Outcome, SandboxState, UserUpdate

MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_USER_ID_LENGTH = 512
EXPORT_LINES_PER_CHUNK = 1000
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_DAY = 86400

Body = bytes | Iterator[bytes]


@dataclass
class Call:
    """What a route handler needs from one request."""

    project: str
    path_params: dict[str, str]
    query: dict[str, list[str]]
    body: bytes
    request_id: int
    arrived_at: float  # rate limits count arrivals, as an API gateway does, not the moment work starts


@dataclass
class Reply:
    status: int
    body: Body
    code: str | None = "Success"  # Iterable code, for the request log
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    items: int | None = None
    identifiers: list[str] | None = None
    stored: list[str] | None = None  # identifiers whose update was stored
    fault: str | None = None  # kind of the fault that shaped this reply


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern
    endpoint: str  # stable name used by the request log and rate limits
    handler: Callable[["IterableApi", Call], Reply]
    limit: int  # requests per window, per project
    window: float  # seconds


def json_reply(status: int, payload: Any, **extra: Any) -> Reply:
    return Reply(status, json.dumps(payload).encode(), **extra)


def error_reply(status: int, code: str, msg: str, **extra: Any) -> Reply:
    return json_reply(status, {"msg": msg, "code": code, "params": None}, code=code, **extra)


def iterable_time(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S +00:00", time.gmtime(epoch))


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


class IterableApi:
    def __init__(
        self, state: SandboxState, *, clock: Clock | None = None, rate_limits: bool = True
    ) -> None:
        self.state = state
        self.clock = clock or SystemClock()
        self.rate_limits = rate_limits
        self._limiter = SlidingWindowLimiter(self.clock)
        self.held = HeldRequests()  # requests parked by `hold` faults

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
        route, path_params = _match(method, path)
        api_key = next((v for k, v in headers.items() if k.lower() == "api-key"), None)
        project = self.state.project_for_key(api_key) if api_key else None
        endpoint = route.endpoint if route else "unknown"
        try:
            reply = self._reply(route, project, path_params, query, body, request_id, arrived_at)
        except ConnectionDropped as dropped:
            self.state.finish_request(
                request_id, project=project, endpoint=endpoint, status=None, code=None,
                fault=dropped.kind, duration_ms=(time.perf_counter() - started) * 1000,
            )
            raise
        except Exception as error:  # a sandbox bug must still answer, and be logged
            reply = error_reply(500, "GenericError", f"{type(error).__name__}: {error}")

        def finish() -> None:
            self.state.finish_request(
                request_id,
                project=project,
                endpoint=endpoint,
                status=reply.status,
                code=reply.code,
                items=reply.items,
                identifiers=reply.identifiers,
                stored=reply.stored,
                fault=reply.fault,
                duration_ms=(time.perf_counter() - started) * 1000,
            )

        headers_out = {"Content-Type": reply.content_type, **reply.headers}
        if isinstance(reply.body, bytes):
            finish()
            return reply.status, headers_out, reply.body
        return reply.status, headers_out, _finish_when_streamed(reply.body, finish)

    def _reply(
        self,
        route: Route | None,
        project: str | None,
        path_params: dict[str, str],
        query: dict[str, list[str]],
        body: bytes,
        request_id: int,
        arrived_at: float,
    ) -> Reply:
        if route is None:
            return error_reply(404, "NotFound", "No such endpoint")
        if project is None:
            return error_reply(401, "BadApiKey", "Invalid API key")
        call = Call(project, path_params, query, body, request_id, arrived_at)
        # Faults see only authenticated requests of known endpoints, so a fault's request
        # numbers (after, times, probability) count the requests a client means to make.
        fault = self.state.take_fault(route.endpoint, body)
        if fault is None:
            return self._process(route, call)
        reply = _FAULT_EFFECTS[fault.kind](self, fault.params, lambda: self._process(route, call))
        reply.fault = fault.kind
        return reply

    def _process(self, route: Route, call: Call) -> Reply:
        """What Iterable answers without faults: the rate limit, then the endpoint."""
        wait = self._rate_limit_wait(call, route)
        if wait is not None:
            return error_reply(
                429,
                "RateLimitExceeded",
                "Rate limit exceeded",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        return route.handler(self, call)

    def _rate_limit_wait(self, call: Call, route: Route) -> float | None:
        if not (self.rate_limits and self.state.rate_limits_enabled(call.project)):
            return None
        return self._limiter.acquire((call.project, route.endpoint), route.limit, route.window, now=call.arrived_at)

    # --- users ----------------------------------------------------------------------

    def _bulk_update(self, call: Call) -> Reply:
        if len(call.body) > MAX_BODY_BYTES:
            return error_reply(
                400, "BatchTooLarge", f"Body is {len(call.body)} bytes; limit {MAX_BODY_BYTES}"
            )
        try:
            payload = json.loads(call.body)
        except ValueError as error:  # includes undecodable bytes
            return error_reply(400, "BadJsonBody", f"Could not parse JSON body: {error}")
        users = payload.get("users") if isinstance(payload, dict) else None
        if not isinstance(users, list):
            return error_reply(400, "BadParams", "users must be a list")

        result = _empty_bulk_result()
        failed = result["failedUpdates"]
        updates: list[UserUpdate] = []
        reported_as: list[tuple[str, str]] = []  # (list suffix, identifier as sent)
        for user in users:
            update = _user_update(user, failed)
            if update is not None:
                updates.append(update)
                email, user_id = user.get("email"), user.get("userId")
                reported_as.append(("Emails", email) if email is not None else ("UserIds", user_id))

        applied = self.state.apply_user_updates(
            call.project,
            updates,
            now=self.clock.now(),
            update_only=payload.get("updateOnly") is True,
            create_new_fields=payload.get("createNewFields") is not False,
            request_id=call.request_id,
        )
        failure_list = {
            Outcome.NOT_FOUND: "notFound",
            Outcome.TYPE_MISMATCH: "invalidData",
            Outcome.CONFLICT: "conflict",
        }
        stored = []
        for (suffix, identifier), update, outcome in zip(reported_as, updates, applied.outcomes):
            if outcome in (Outcome.CREATED, Outcome.UPDATED):
                result["successCount"] += 1
                stored.append(update.email or update.user_id)  # the identity it was matched by
            else:
                failed[failure_list[outcome] + suffix].append(identifier)
        result["failCount"] = len(users) - result["successCount"]
        result["invalidEmails"] = failed["invalidEmails"]  # deprecated copies
        result["invalidUserIds"] = failed["invalidUserIds"]
        result["createdFields"] = applied.created_fields
        result["filteredOutFields"] = applied.filtered_out_fields
        return json_reply(
            200, result, items=len(users), identifiers=_identifiers_carried(users), stored=stored
        )

    def _get_by_email(self, call: Call) -> Reply:
        email = _first(call.query, "email")
        if not email:
            return error_reply(400, "BadParams", "email is required")
        return self._user_reply(call.project, email=email)

    def _get_by_path_email(self, call: Call) -> Reply:
        return self._user_reply(call.project, email=call.path_params["email"])

    def _get_by_user_id(self, call: Call) -> Reply:
        return self._user_reply(call.project, user_id=call.path_params["user_id"])

    def _user_reply(self, project: str, **identity: str) -> Reply:
        user = self.state.get_user(project, **identity)
        if user is None:
            return json_reply(200, {})  # Iterable answers an unknown user with 200 {}
        public = _identity_fields(user)
        public["dataFields"] = user["dataFields"]
        public["profileUpdatedAt"] = iterable_time(user["profileUpdatedAt"])
        return json_reply(200, {"user": public})

    # --- export ---------------------------------------------------------------------

    def _export_data(self, call: Call) -> Reply:
        if _first(call.query, "dataTypeName") != "user":
            return error_reply(400, "BadParams", "dataTypeName must be user")
        try:
            updated_from, updated_before = self._export_window(call.query)
        except ValueError as error:
            return error_reply(400, "BadParams", str(error))
        only_fields = [name for name in call.query.get("onlyFields", []) if name]
        omit_fields = {name for name in (_first(call.query, "omitFields") or "").split(",") if name}
        if only_fields and set(only_fields) <= {"email", "userId", "profileUpdatedAt"}:  # an export of identifiers
            fields = [name for name in dict.fromkeys(only_fields) if name not in omit_fields]
            chunks = self.state.identity_lines(
                call.project, fields, updated_from=updated_from, updated_before=updated_before
            )
        else:
            users = self.state.iter_users(call.project, updated_from=updated_from, updated_before=updated_before)
            chunks = _export_chunks(users, only_fields, omit_fields)
        return Reply(200, chunks, content_type="application/x-json-stream")

    def _export_window(self, query: dict[str, list[str]]) -> tuple[float | None, float | None]:
        """(inclusive start, exclusive end) on profileUpdatedAt; None is unbounded."""
        start, end = _first(query, "startDateTime"), _first(query, "endDateTime")
        if start or end:
            return (_parse_datetime(start) if start else None, _parse_datetime(end) if end else None)
        today = self.clock.now() // _DAY * _DAY
        windows = {
            "All": (None, None),
            "Today": (today, None),
            "Yesterday": (today - _DAY, today),
            "BeforeToday": (None, today),
        }
        name = _first(query, "range")
        if name not in windows:
            raise ValueError(
                "give range (All, Today, Yesterday, BeforeToday) or startDateTime/endDateTime"
            )
        return windows[name]

    _GET_LIMIT = (100, 1.0)
    ROUTES = (
        Route("POST", re.compile(r"/api/users/bulkUpdate"), "users/bulkUpdate",
              _bulk_update, 5, 1.0),
        Route("GET", re.compile(r"/api/users/getByEmail"), "users/getByEmail",
              _get_by_email, *_GET_LIMIT),
        Route("GET", re.compile(r"/api/users/byUserId/(?P<user_id>[^/]+)"), "users/byUserId",
              _get_by_user_id, *_GET_LIMIT),
        Route("GET", re.compile(r"/api/users/(?P<email>[^/]+)"), "users/get",
              _get_by_path_email, *_GET_LIMIT),
        Route("GET", re.compile(r"/api/export/data\.json"), "export/data.json",
              _export_data, 4, 60.0),
    )


# --- fault effects ------------------------------------------------------------------------
# Each takes the fault's params and `process`, which answers the request as without faults;
# a fault that refuses the request never calls it, so nothing is stored or rate-limited.
FaultEffect = Callable[[IterableApi, dict, Callable[[], Reply]], Reply]


def _rate_limited(api: IterableApi, params: dict, process: Callable[[], Reply]) -> Reply:
    headers = {"Retry-After": str(params["retry_after"])} if "retry_after" in params else {}
    if params["body"] == "text":
        return Reply(429, b"Rate limit exceeded", code="RateLimitExceeded",
                     content_type="text/plain", headers=headers)
    return error_reply(429, "RateLimitExceeded", "Rate limit exceeded", headers=headers)


def _server_error(api: IterableApi, params: dict, process: Callable[[], Reply]) -> Reply:
    return error_reply(params["status"], "GenericError", f"Sandbox fault: HTTP {params['status']}")


def _slow(api: IterableApi, params: dict, process: Callable[[], Reply]) -> Reply:
    time.sleep(params["delay"])  # real seconds, not the clock's: it must outlast real timeouts
    return process()


def _drop(api: IterableApi, params: dict, process: Callable[[], Reply]) -> Reply:
    raise ConnectionDropped("drop")


def _malformed(api: IterableApi, params: dict, process: Callable[[], Reply]) -> Reply:
    reply = process()
    body = reply.body if isinstance(reply.body, bytes) else b"".join(reply.body)
    # Every body (and every exported line) is a JSON object, so with its trailing "}" and
    # newlines stripped the last value is always incomplete.
    reply.body = body[: len(body) // 2].rstrip(b"}\n")
    return reply


def _bad_row(api: IterableApi, params: dict, process: Callable[[], Reply]) -> Reply:
    identifier = params["identifier"]
    return error_reply(400, "BadParams",
                       f"Invalid data for user {identifier}: a field failed validation")


def _unauthorized(api: IterableApi, params: dict, process: Callable[[], Reply]) -> Reply:
    return error_reply(401, "BadApiKey", "Invalid API key")  # as for a revoked key


def _refused(api: IterableApi, params: dict, process: Callable[[], Reply]) -> Reply:
    # A 400 for the request itself, whatever rows it holds (an account setting, a parameter the project refuses).
    return error_reply(400, params["code"], "The request was refused for this project")


def _hold(api: IterableApi, params: dict, process: Callable[[], Reply]) -> Reply:
    if api.held.hold():
        raise ConnectionDropped("hold")
    return process()


_FAULT_EFFECTS: dict[str, FaultEffect] = {
    "rate_limit": _rate_limited,
    "server_error": _server_error,
    "slow": _slow,
    "drop": _drop,
    "malformed": _malformed,
    "bad_row": _bad_row,
    "unauthorized": _unauthorized,
    "refused": _refused,
    "hold": _hold,
}


def _match(method: str, path: str) -> tuple[Route | None, dict[str, str]]:
    for route in IterableApi.ROUTES:
        found = route.pattern.fullmatch(path)
        if found and route.method == method:
            # decode after matching, so an encoded "/" stays inside one path segment
            return route, {name: unquote(value) for name, value in found.groupdict().items()}
    return None, {}


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _empty_bulk_result() -> dict:
    failed_lists = (
        "invalidEmails", "invalidUserIds", "invalidDataEmails", "invalidDataUserIds",
        "forgottenEmails", "forgottenUserIds", "conflictEmails", "conflictUserIds",
        "notFoundEmails", "notFoundUserIds",
    )
    return {
        "successCount": 0,
        "failCount": 0,
        "invalidEmails": [],
        "invalidUserIds": [],
        "filteredOutFields": [],
        "createdFields": [],
        "failedUpdates": {name: [] for name in failed_lists},
    }


def _user_update(user: Any, failed: dict[str, list]) -> UserUpdate | None:
    """The update a bulkUpdate entry asks for, or None after recording why it is refused."""
    if not isinstance(user, dict) or not isinstance(user.get("dataFields") or {}, dict):
        return None
    email, user_id = user.get("email"), user.get("userId")
    if email is not None and not (isinstance(email, str) and _EMAIL.fullmatch(email)):
        failed["invalidEmails"].append(email)
        return None
    if user_id is not None and not (
        isinstance(user_id, str) and 0 < len(user_id) <= MAX_USER_ID_LENGTH
    ):
        failed["invalidUserIds"].append(user_id)
        return None
    if email is None and user_id is None:
        return None  # counted in failCount only
    return UserUpdate(
        email, user_id, user.get("dataFields") or {}, user.get("mergeNestedObjects") is True
    )


def _identifiers_carried(users: list) -> list:
    carried = []
    for user in users:
        if isinstance(user, dict):
            carried.extend(user[key] for key in ("email", "userId") if user.get(key) is not None)
    return carried


def _identity_fields(user: dict) -> dict:
    """email and userId, leaving out the one a user does not have."""
    identity = {"email": user["email"], "userId": user["userId"]}
    return {key: value for key, value in identity.items() if value is not None}


def _parse_datetime(text: str) -> float:
    try:
        return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S"))
    except ValueError:
        raise ValueError(f"{text!r} is not yyyy-MM-dd HH:mm:ss") from None


def _export_line(user: dict, only_fields: list[str], omit_fields: set[str]) -> dict:
    line = _identity_fields(user)
    line["profileUpdatedAt"] = iterable_time(user["profileUpdatedAt"])
    for name, value in user["dataFields"].items():
        line.setdefault(name, value)  # Iterable flattens dataFields into the line
    if only_fields:
        line = {name: line[name] for name in only_fields if name in line}
    return {name: value for name, value in line.items() if name not in omit_fields}


def _export_chunks(
    users: Iterable[dict], only_fields: list[str], omit_fields: set[str]
) -> Iterator[bytes]:
    lines = []
    for user in users:
        lines.append(json.dumps(_export_line(user, only_fields, omit_fields)) + "\n")
        if len(lines) == EXPORT_LINES_PER_CHUNK:
            yield "".join(lines).encode()
            lines = []
    if lines:
        yield "".join(lines).encode()


def _finish_when_streamed(chunks: Iterator[bytes], finish: Callable[[], None]) -> Iterator[bytes]:
    """Log a streamed reply once it is fully sent (or abandoned)."""
    try:
        yield from chunks
    finally:
        finish()
