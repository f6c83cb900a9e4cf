"""The faults an Iterable sandbox can inject: its endpoints, the HTTP-level kinds every vendor has, and two of its
own (`bad_row`, `refused`: 400 answers in Iterable's envelope)."""

from __future__ import annotations

import json
from typing import Any

from ..core import HTTP_KINDS, FaultCatalog, FaultKind, Param

# The sandbox's stable endpoint names (IterableApi.ROUTES; a test keeps the two in step).
ENDPOINTS = frozenset(
    {"users/bulkUpdate", "users/getByEmail", "users/byUserId", "users/get", "export/data.json",
     "events/trackBulk", "events/get", "events/byUserId", "lists", "lists/create", "lists/subscribe",
     "lists/unsubscribe", "lists/getUsers"}
)


def _names_user(params: dict[str, Any], body: bytes) -> bool:
    """Whether a bulkUpdate body has a user with this email (any case) or userId."""
    identifier = params["identifier"]
    try:
        users = json.loads(body).get("users")
    except (ValueError, AttributeError):
        return False  # the handler refuses such a body itself
    return isinstance(users, list) and any(
        isinstance(user, dict) and _is_user(user, identifier) for user in users
    )


def _is_user(user: dict, identifier: str) -> bool:
    email = user.get("email")
    return (isinstance(email, str) and email.lower() == identifier.lower()) or user.get("userId") == identifier


_IDENTIFIER = Param(str, lambda v: isinstance(v, str) and v != "", "an email or userId", required=True)
_CODE = Param(str, lambda v: isinstance(v, str) and v.isidentifier(), "an error code such as NotAllowed",
              default="NotAllowed")

FAULTS = FaultCatalog(ENDPOINTS, {
    **HTTP_KINDS,
    # a 400 for a whole batch holding one identifier (a batch without it does not count)
    "bad_row": FaultKind({"identifier": _IDENTIFIER}, only_endpoint="users/bulkUpdate", matches=_names_user),
    # a 400 for the request itself, with a code no row can cause
    "refused": FaultKind({"code": _CODE}),
})

