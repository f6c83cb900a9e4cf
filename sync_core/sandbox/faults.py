"""Deterministic fault injection: what a fault is, which requests it hits, and its CLI spec.

A fault names an endpoint (or `*`) and a kind. It counts the requests it matches from the
moment it is added: it skips the first `after`, then hits each later one with `probability`
(decided by a hash of seed, fault id and request number, so a rerun hits the same requests)
until it has hit `times` of them. The state file stores faults and their counters, so any
process can add or clear them while a server runs; `IterableApi` carries out the kinds.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

# The sandbox's stable endpoint names (IterableApi.ROUTES; a test keeps the two in step).
ENDPOINTS = frozenset(
    {"users/bulkUpdate", "users/getByEmail", "users/byUserId", "users/get", "export/data.json"}
)
ALL_ENDPOINTS = "*"


@dataclass(frozen=True)
class Param:
    """One parameter of a fault kind: how to read it from a CLI spec and what is valid."""

    from_text: Callable[[str], Any]
    is_valid: Callable[[Any], bool]
    rule: str  # completes "must be ...", for error messages
    required: bool = False
    default: Any = None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_RETRY_AFTER = Param(int, lambda v: _is_int(v) and v >= 0, "an integer >= 0 (seconds)")
_BODY = Param(str, lambda v: v in ("json", "text"), '"json" or "text"', default="json")
_STATUS = Param(int, lambda v: v in (500, 502, 503), "500, 502 or 503", default=500)
_DELAY = Param(float, lambda v: _is_number(v) and 0 < v < math.inf, "a number of seconds > 0",
               required=True)
_IDENTIFIER = Param(str, lambda v: isinstance(v, str) and v != "", "an email or userId",
                    required=True)
_CODE = Param(str, lambda v: isinstance(v, str) and v.isidentifier(), "an error code such as NotAllowed",
              default="NotAllowed")

# kind -> its parameters; what each kind answers is IterableApi's fault effects table.
KINDS: dict[str, dict[str, Param]] = {
    "rate_limit": {"retry_after": _RETRY_AFTER, "body": _BODY},
    "server_error": {"status": _STATUS},
    "slow": {"delay": _DELAY},
    "drop": {},
    "malformed": {},
    "bad_row": {"identifier": _IDENTIFIER},
    "unauthorized": {},
    "refused": {"code": _CODE},
    "hold": {},
}
_ONLY_ENDPOINT = {"bad_row": "users/bulkUpdate"}  # kinds that make sense on one endpoint only

# Which requests a fault hits: options of every kind (their defaults are add_fault's).
SELECTION: dict[str, Param] = {
    "after": Param(int, lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "times": Param(int, lambda v: v is None or (_is_int(v) and v >= 1),
                   "an integer >= 1 (or absent: unlimited)"),
    "probability": Param(float, lambda v: _is_number(v) and 0 <= v <= 1, "a number from 0 to 1"),
    "seed": Param(int, _is_int, "an integer"),
}


@dataclass(frozen=True)
class Fault:
    """A stored fault, with its counters as they were when read."""

    id: int
    endpoint: str
    kind: str
    after: int
    times: int | None
    probability: float
    seed: int
    params: dict[str, Any]
    seen: int  # matching requests counted since the fault was added
    hits: int  # of those, the ones it answered

    def matches(self, body: bytes) -> bool:
        """Whether a request of this fault's endpoint counts for it at all."""
        if self.kind == "bad_row":
            return _names_user(body, self.params["identifier"])
        return True

    def hits_next(self) -> bool:
        """Whether the next matching request (number `seen`, from 0) is one to answer."""
        if self.seen < self.after or (self.times is not None and self.hits >= self.times):
            return False
        return self.probability >= 1 or chance(self.seed, self.id, self.seen) < self.probability


def chance(seed: int, fault_id: int, request_number: int) -> float:
    """A uniform number in [0, 1) that depends on nothing but its arguments."""
    digest = hashlib.blake2b(f"{seed}:{fault_id}:{request_number}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") / 2**64


def validated_params(
    endpoint: str, kind: str, selection: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """The kind's parameters with defaults filled in; ValueError says what is wrong."""
    if kind not in KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; kinds: {', '.join(KINDS)}")
    if endpoint != ALL_ENDPOINTS and endpoint not in ENDPOINTS:
        raise ValueError(
            f"unknown endpoint {endpoint!r}; endpoints: {', '.join(sorted(ENDPOINTS))} or *"
        )
    only = _ONLY_ENDPOINT.get(kind)
    if only is not None and endpoint != only:
        raise ValueError(f"{kind} faults apply to {only} only, not {endpoint!r}")
    for name, value in selection.items():
        _check(name, value, SELECTION[name])
    schema = KINDS[kind]
    unknown = sorted(set(params) - set(schema))
    if unknown:
        takes = ", ".join(schema) or "no parameters"
        raise ValueError(f"{kind} takes {takes}; got {', '.join(unknown)}")
    complete = {}
    for name, param in schema.items():
        if name in params:
            complete[name] = _check(name, params[name], param)
        elif param.required:
            raise ValueError(f"{kind} needs {name} ({param.rule})")
        elif param.default is not None:
            complete[name] = param.default
    return complete


def _check(name: str, value: Any, param: Param) -> Any:
    if not param.is_valid(value):
        raise ValueError(f"{name} must be {param.rule}, not {value!r}")
    return value


def _names_user(body: bytes, identifier: str) -> bool:
    """Whether a bulkUpdate body has a user with this email (any case) or userId."""
    try:
        users = json.loads(body).get("users")
    except (ValueError, AttributeError):
        return False  # the handler refuses such a body itself
    return isinstance(users, list) and any(
        isinstance(user, dict) and _is_user(user, identifier) for user in users
    )


def _is_user(user: dict, identifier: str) -> bool:
    email = user.get("email")
    return (
        isinstance(email, str) and email.lower() == identifier.lower()
    ) or user.get("userId") == identifier


# --- CLI spec -------------------------------------------------------------------------


class FaultSpec(NamedTuple):
    endpoint: str
    kind: str
    options: dict[str, Any]  # keyword arguments of SandboxState.add_fault


def parse_spec(text: str) -> FaultSpec:
    """`ENDPOINT:KIND[:key=value,...]`, e.g. `users/bulkUpdate:server_error:status=503,times=2`.

    Values cannot contain commas. Raises ValueError for anything add_fault would refuse.
    """
    parts = text.split(":", 2)
    if len(parts) < 2 or not all(parts[:2]):
        raise ValueError(f"fault spec {text!r} is not ENDPOINT:KIND[:key=value,...]")
    endpoint, kind = parts[0], parts[1]
    if kind not in KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; kinds: {', '.join(KINDS)}")
    options = {}
    for pair in filter(None, parts[2].split(",") if len(parts) == 3 else []):
        name, equals, value = pair.partition("=")
        param = SELECTION.get(name) or KINDS[kind].get(name)
        if not equals or param is None:
            raise ValueError(f"{pair!r} in fault spec {text!r} is not a known key=value")
        try:
            options[name] = param.from_text(value)
        except ValueError:
            raise ValueError(f"{name} must be {param.rule}, not {value!r}") from None
    selection = {name: value for name, value in options.items() if name in SELECTION}
    params = {name: value for name, value in options.items() if name not in SELECTION}
    validated_params(endpoint, kind, selection, params)
    return FaultSpec(endpoint, kind, options)


# --- unanswered requests: drop and hold ---------------------------------------------


class ConnectionDropped(Exception):
    """Raised to make the server close the connection without answering."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass
class _Ticket:
    released: threading.Event = field(default_factory=threading.Event)
    drop: bool = True


class HeldRequests:
    """Requests a `hold` fault parked until the test that owns the server releases them."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._held: list[_Ticket] = []

    def hold(self) -> bool:
        """Block until released; True if the request is to be dropped, False to process it."""
        ticket = _Ticket()
        with self._changed:
            self._held.append(ticket)
            self._changed.notify_all()
        ticket.released.wait()
        return ticket.drop

    def wait_for(self, count: int, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self._held) >= count, timeout)

    def release(self, *, drop: bool) -> int:
        with self._changed:
            tickets, self._held = self._held, []
        for ticket in tickets:
            ticket.drop = drop
            ticket.released.set()
        return len(tickets)
