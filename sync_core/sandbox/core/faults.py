"""Deterministic fault injection: what a fault is, which requests it hits, and its CLI spec.

A fault names an endpoint (or `*`) and a kind. It counts the requests it matches from the moment it is added: it
skips the first `after`, then hits each later one with `probability` (decided by a hash of seed, fault id and
request number, so a rerun hits the same requests) until it has hit `times` of them. The state file stores
faults and their counters (fault_store.py), so any process can add or clear them while a server runs.

The kinds here are HTTP-level and every vendor has them (`HTTP_KINDS`); a vendor adds kinds of its own and names
its endpoints in a `FaultCatalog`. What each kind answers is the vendor API's fault effects table (api.py).
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

ALL_ENDPOINTS = "*"


@dataclass(frozen=True)
class Param:
    """One parameter of a fault kind: how to read it from a CLI spec and what is valid."""

    from_text: Callable[[str], Any]
    is_valid: Callable[[Any], bool]
    rule: str  # completes "must be ...", for error messages
    required: bool = False
    default: Any = None


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class FaultKind:
    params: dict[str, Param] = field(default_factory=dict)
    only_endpoint: str | None = None  # for kinds that make sense on one endpoint only
    # Whether a request counts for a fault of this kind at all, from the fault's params and the request's body.
    matches: Callable[[dict[str, Any], bytes], bool] | None = None


_RETRY_AFTER = Param(int, lambda v: is_int(v) and v >= 0, "an integer >= 0 (seconds)")
_BODY = Param(str, lambda v: v in ("json", "text"), '"json" or "text"', default="json")
_STATUS = Param(int, lambda v: v in (500, 502, 503), "500, 502 or 503", default=500)
_DELAY = Param(float, lambda v: _is_number(v) and 0 < v < math.inf, "a number of seconds > 0", required=True)

# Faults of HTTP itself, which every vendor's sandbox can inject.
HTTP_KINDS: dict[str, FaultKind] = {
    "rate_limit": FaultKind({"retry_after": _RETRY_AFTER, "body": _BODY}),
    "server_error": FaultKind({"status": _STATUS}),
    "slow": FaultKind({"delay": _DELAY}),
    "drop": FaultKind(),
    "malformed": FaultKind(),
    "unauthorized": FaultKind(),
    "hold": FaultKind(),
}

# Which requests a fault hits: options of every kind (their defaults are add_fault's).
SELECTION: dict[str, Param] = {
    "after": Param(int, lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    "times": Param(int, lambda v: v is None or (is_int(v) and v >= 1), "an integer >= 1 (or absent: unlimited)"),
    "probability": Param(float, lambda v: _is_number(v) and 0 <= v <= 1, "a number from 0 to 1"),
    "seed": Param(int, is_int, "an integer"),
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

    def hits_next(self) -> bool:
        """Whether the next matching request (number `seen`, from 0) is one to answer."""
        if self.seen < self.after or (self.times is not None and self.hits >= self.times):
            return False
        return self.probability >= 1 or chance(self.seed, self.id, self.seen) < self.probability


def chance(seed: int, fault_id: int, request_number: int) -> float:
    """A uniform number in [0, 1) that depends on nothing but its arguments."""
    digest = hashlib.blake2b(f"{seed}:{fault_id}:{request_number}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") / 2**64


class FaultSpec(NamedTuple):
    endpoint: str
    kind: str
    options: dict[str, Any]  # keyword arguments of add_fault


@dataclass(frozen=True)
class FaultCatalog:
    """The faults one vendor's sandbox can inject: its endpoints (stable names) and its kinds."""

    endpoints: frozenset[str]
    kinds: dict[str, FaultKind]

    def matches(self, fault: Fault, body: bytes) -> bool:
        """Whether a request of the fault's endpoint counts for it at all."""
        matches = self.kinds[fault.kind].matches
        return matches is None or matches(fault.params, body)

    def validated_params(
        self, endpoint: str, kind: str, selection: dict[str, Any], params: dict[str, Any]
    ) -> dict[str, Any]:
        """The kind's parameters with defaults filled in; ValueError says what is wrong."""
        if kind not in self.kinds:
            raise ValueError(f"unknown fault kind {kind!r}; kinds: {', '.join(self.kinds)}")
        if endpoint != ALL_ENDPOINTS and endpoint not in self.endpoints:
            raise ValueError(f"unknown endpoint {endpoint!r}; endpoints: {', '.join(sorted(self.endpoints))} or *")
        only = self.kinds[kind].only_endpoint
        if only is not None and endpoint != only:
            raise ValueError(f"{kind} faults apply to {only} only, not {endpoint!r}")
        for name, value in selection.items():
            _check(name, value, SELECTION[name])
        schema = self.kinds[kind].params
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

    def parse_spec(self, text: str) -> FaultSpec:
        """`ENDPOINT:KIND[:key=value,...]`, e.g. `users/bulkUpdate:server_error:status=503,times=2`.

        Values cannot contain commas. Raises ValueError for anything add_fault would refuse.
        """
        parts = text.split(":", 2)
        if len(parts) < 2 or not all(parts[:2]):
            raise ValueError(f"fault spec {text!r} is not ENDPOINT:KIND[:key=value,...]")
        endpoint, kind = parts[0], parts[1]
        if kind not in self.kinds:
            raise ValueError(f"unknown fault kind {kind!r}; kinds: {', '.join(self.kinds)}")
        options = {}
        for pair in filter(None, parts[2].split(",") if len(parts) == 3 else []):
            name, equals, value = pair.partition("=")
            param = SELECTION.get(name) or self.kinds[kind].params.get(name)
            if not equals or param is None:
                raise ValueError(f"{pair!r} in fault spec {text!r} is not a known key=value")
            try:
                options[name] = param.from_text(value)
            except ValueError:
                raise ValueError(f"{name} must be {param.rule}, not {value!r}") from None
        selection = {name: value for name, value in options.items() if name in SELECTION}
        params = {name: value for name, value in options.items() if name not in SELECTION}
        self.validated_params(endpoint, kind, selection, params)
        return FaultSpec(endpoint, kind, options)

    def help(self) -> str:
        """What `--fault` accepts, for a command's help."""
        return "\n".join([
            "fault specs: ENDPOINT:KIND[:key=value,...], ENDPOINT one of",
            f"  {', '.join(sorted(self.endpoints))} or *;",
            "every kind takes after=N (skip N requests), times=M (hit M, then stop),",
            "probability=P and seed=S; faults stay in the state file until cleared. Kinds:",
            *(f"  {name}: {', '.join(kind.params) or '-'}" for name, kind in self.kinds.items()),
            "hold parks requests until SandboxServer.release_held, so only tests serving",
            "in-process can use it.",
        ])


def _check(name: str, value: Any, param: Param) -> Any:
    if not param.is_valid(value):
        raise ValueError(f"{name} must be {param.rule}, not {value!r}")
    return value


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
