"""Destinations: one module per API object; each knows its limits, requests and per-row outcomes."""

from __future__ import annotations

from ..config import SyncConfig, Workspace
from .base import BatchRejected, DestinationObject, Rejection, SendResult, TransientError


def open_destination(workspace: Workspace, sync: SyncConfig) -> DestinationObject:
    """The destination object a sync writes to, with its secret resolved (a ConfigError if it cannot be)."""
    config = workspace.destinations[sync.destination]
    api_key = config.api_key.resolve(workspace.root)
    if config.type == "iterable" and sync.object == "user":
        from .iterable.users import IterableUsers
        return IterableUsers(config, sync, api_key)
    raise AssertionError(f"config validation let through {config.type}/{sync.object}")


__all__ = ["BatchRejected", "DestinationObject", "Rejection", "SendResult", "TransientError", "open_destination"]
