"""Destinations: one module per API object; each knows its limits, requests and per-row outcomes."""

from __future__ import annotations

from ..clock import Clock
from ..config import ConfigError, SyncConfig, Workspace
from ..ratelimit import Limit, SharedRateLimits, credential_digest
from .base import BatchRejected, DestinationObject, Rejection, SendResult, TransientError

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
        return IterableUsers(config, sync, api_key, limits)
    raise AssertionError(f"config validation let through {config.type}/{sync.object}")



def _limits(workspace: Workspace, config, defaults: dict[str, Limit]) -> dict[str, Limit]:
    limits = dict(defaults)
    for endpoint, (requests, seconds) in config.rate_limits.items():
        if endpoint not in defaults:
            raise ConfigError(workspace.file, f"destinations.{config.name}.rate_limits.{endpoint}",
                              f"unknown endpoint (this destination calls: {', '.join(defaults)})")
        limits[endpoint] = Limit(requests, seconds)
    return limits


__all__ = ["BatchRejected", "DestinationObject", "Rejection", "SendResult", "TransientError", "open_destination"]
