"""Destinations: one module per API object; each knows its limits, requests and per-row outcomes."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..clock import Clock
from ..config import ConfigError, SyncConfig, Workspace
from ..ratelimit import Limit, SharedRateLimits, credential_digest, vendor_limit
from .base import BatchRejected, DestinationObject, Rejection, SendResult, TransientError
from .iterable.client import LOOPBACK

RATE_LIMITS_FILE = "rate-limits.sqlite"


def open_destination(workspace: Workspace, sync: SyncConfig, *, clock: Clock | None = None) -> DestinationObject:
    """The destination object a sync writes to, with its secret resolved (a ConfigError if it cannot be) and
    its rate limits shared with every other process of this workspace that uses the same credential."""
    config = workspace.destinations[sync.destination]
    api_key = config.api_key.resolve(workspace.root)
    if config.type == "iterable" and sync.object == "user":
        from .iterable.users import IterableUsers
        limits = SharedRateLimits(workspace.state_dir / RATE_LIMITS_FILE, credential_digest(config.base_url, api_key),
                                  _limits(workspace, config, IterableUsers.LIMITS), reserve=config.rate_limit_reserve,
                                  clock=clock)
        users = IterableUsers(config, sync, api_key, limits)
        users.client.unreachable_hint = sandbox_hint(workspace, config.base_url) or users.client.unreachable_hint
        return users
    raise AssertionError(f"config validation let through {config.type}/{sync.object}")


def max_batch_size(kind: str) -> int:
    """The most rows one request to a destination of this type may carry (config.py checks batch_size with it)."""
    if kind == "iterable":
        from .iterable.users import MAX_USERS_PER_REQUEST
        return MAX_USERS_PER_REQUEST
    raise AssertionError(f"no request size known for destination type {kind!r}")


def sandbox_hint(workspace: Workspace, base_url: str) -> str | None:
    """When base_url is the workspace's own sandbox: how to start it."""
    where = urlsplit(base_url)
    if workspace.sandbox is None or where.hostname not in LOOPBACK or where.port != workspace.sandbox.port:
        return None
    return (f"It is this workspace's local Iterable sandbox, and it is not running: start it with "
            f"`sync-core -w {workspace.root} sandbox` in another terminal (or `sync-core -w {workspace.root} up`, "
            "which starts it with the dashboard), then run the sync again")


def _limits(workspace: Workspace, config, defaults: dict[str, Limit]) -> dict[str, Limit]:
    limits = {endpoint: vendor_limit(limit.requests, limit.per_seconds) for endpoint, limit in defaults.items()}
    for endpoint, (requests, seconds) in config.rate_limits.items():
        if endpoint not in defaults:
            raise ConfigError(workspace.file, f"destinations.{config.name}.rate_limits.{endpoint}",
                              f"unknown endpoint (this destination calls: {', '.join(defaults)})")
        limits[endpoint] = vendor_limit(requests, seconds)
    return limits


__all__ = ["BatchRejected", "DestinationObject", "Rejection", "SendResult", "TransientError", "open_destination"]
