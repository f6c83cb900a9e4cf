"""Opening the destination object a sync writes to: its type's implementation (catalog.py), its secret, and
rate limits shared with every process of the workspace that uses the same credential."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..clock import Clock
from ..config import ConfigError, SyncConfig, Workspace
from ..ratelimit import Limit, SharedRateLimits, credential_digest, vendor_limit
from .base import DestinationObject
from .catalog import DESTINATION_TYPES
from .http import LOOPBACK

RATE_LIMITS_FILE = "rate-limits.sqlite"


def open_destination(workspace: Workspace, sync: SyncConfig, *, clock: Clock | None = None) -> DestinationObject:
    """The destination object a sync writes to, with its secret resolved (a ConfigError if it cannot be) and
    its rate limits shared with every other process of this workspace that uses the same credential."""
    config = workspace.destinations[sync.destination]
    api_key = config.api_key.resolve(workspace.root)
    credential = (config.client_id.resolve(workspace.root), api_key) if config.client_id else api_key
    implementation = DESTINATION_TYPES[config.type].objects[sync.object].load()
    # Limits per credential, or per account for a vendor that counts every integration of it together (Marketo)
    shared_by = (credential_digest(config.base_url) if getattr(implementation, "LIMITS_PER_INSTANCE", False)
                 else credential_digest(config.base_url, api_key))
    limits = SharedRateLimits(workspace.state_dir / RATE_LIMITS_FILE, shared_by,
                              limits_for(workspace, config, implementation.LIMITS), reserve=config.rate_limit_reserve,
                              clock=clock)
    destination = implementation(config, sync, credential, limits)
    destination.client.unreachable_hint = (sandbox_hint(workspace, config.base_url)
                                           or destination.client.unreachable_hint)
    return destination


def sandbox_hint(workspace: Workspace, base_url: str) -> str | None:
    """When base_url is one of the workspace's own sandboxes: how to start it."""
    where = urlsplit(base_url)
    if where.hostname not in LOOPBACK:
        return None
    for sandbox in workspace.sandboxes.values():
        if where.port == sandbox.port:
            name = f" --name {sandbox.name}" if len(workspace.sandboxes) > 1 else ""
            return (f"It is this workspace's local {sandbox.vendor.capitalize()} sandbox, and it is not running: "
                    f"start it with `sync-core -w {workspace.root} sandbox{name}` in another terminal (or "
                    f"`sync-core -w {workspace.root} up`, which starts it with the dashboard), then run the sync "
                    "again")
    return None


def limits_for(workspace: Workspace, config, defaults: dict[str, Limit]) -> dict[str, Limit]:
    """A destination's rate limits: the vendor's published ones (`defaults`), with workspace.toml's overrides."""
    limits = dict(defaults)  # the vendor's published limits (ratelimit.vendor_limit), overridden per endpoint
    # A destination's limits serve every object its syncs write (users, events): an endpoint of another object
    # is not this sync's, and not an error.
    known = {e: None for o in DESTINATION_TYPES[config.type].objects.values() for e in o.load().LIMITS}
    for endpoint, (requests, seconds) in config.rate_limits.items():
        if endpoint not in known:
            raise ConfigError(workspace.file, f"destinations.{config.name}.rate_limits.{endpoint}",
                              f"unknown endpoint (this destination calls: {', '.join(known)})")
        if endpoint in defaults:
            limits[endpoint] = vendor_limit(requests, seconds)
    return limits
