"""The daily API quota of a Marketo instance as it stands today: what the instance used (Marketo's own count, from
`GET /rest/v1/stats/usage.json`, which every integration of the instance adds to), the configured limit and
reserve, what is left, and when it resets (midnight US Central). `sync-core syncs`, doctor and the dashboard show
it; reading it costs one REST call of the quota.

Marketo answers every REST call with 607 once the quota is used up, the usage call too: that answer is read as
"used up", not as an error."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from ...clock import Clock, SystemClock
from ...config import DestinationConfig, Workspace
from ...errors import DestinationUnavailable, SyncCoreError
from ...marketo_day import reset_time_text
from ...ratelimit import SharedRateLimits, credential_digest
from ...secrets import redact
from ..base import TransientError
from ..opening import RATE_LIMITS_FILE, limits_for, sandbox_hint
from .activities import MarketoActivities
from .client import QUOTA_CODE, MarketoClient, credential_reference

USED_UP, UNDER_RESERVE, OK = "used up", "under the reserve", "ok"


@dataclass(frozen=True)
class DailyQuota:
    destination: str
    limit: int  # calls per Marketo day (the destination's daily_quota)
    reserve: float  # the share syncs leave to other integrations (daily_quota_reserve)
    used: int  # by every integration of the instance today
    resets_at: str  # ISO time, US Central

    @property
    def left(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def reserve_calls(self) -> int:
        return self.limit - math.floor(self.limit * (1 - self.reserve))

    @property
    def state(self) -> str:
        if self.left == 0:
            return USED_UP
        return UNDER_RESERVE if self.left <= self.reserve_calls else OK

    def describe(self, when: Callable[[str], str] | None = None) -> str:
        """`when` writes the reset's ISO time for the reader (the dashboard: in the browser's time zone)."""
        return (f"daily quota {self.used:,} of {self.limit:,} calls used today, {self.left:,} left "
                f"({self.reserve:.0%} = {self.reserve_calls:,} kept for other integrations); resets at "
                f"{when(self.resets_at) if when else self.resets_at} (midnight US Central)")

    def to_json(self) -> dict:
        return {"destination": self.destination, "limit": self.limit, "used": self.used, "left": self.left,
                "reserve": self.reserve, "reserve_calls": self.reserve_calls, "state": self.state,
                "resets_at": self.resets_at}


def open_client(workspace: Workspace, config: DestinationConfig, *, clock: Clock | None = None) -> MarketoClient:
    """A client of the destination's instance, its secrets resolved (a ConfigError if they cannot be), in the rate
    limits every process of the workspace shares for the instance."""
    client_id, client_secret = config.client_id.resolve(workspace.root), config.api_key.resolve(workspace.root)
    shared = SharedRateLimits(workspace.state_dir / RATE_LIMITS_FILE, credential_digest(config.base_url),
                              limits_for(workspace, config, MarketoActivities.LIMITS),
                              reserve=config.rate_limit_reserve, clock=clock or SystemClock())
    # No shared token: a token cached by a run would hide a client secret changed since (doctor checks it).
    client = MarketoClient(destination=config.name, base_url=config.base_url, client_id=client_id,
                           client_secret=client_secret, key_reference=credential_reference(config),
                           timeout=config.timeout_seconds, limits=shared, shared=None)
    client.unreachable_hint = sandbox_hint(workspace, config.base_url) or client.unreachable_hint
    return client


def read_daily_quota(config: DestinationConfig, client: MarketoClient) -> DailyQuota:
    """Today's quota of the client's instance; errors other than a used-up quota propagate."""
    limit = int(config.settings["daily_quota"])
    try:
        used = client.calls_today()
    except DestinationUnavailable as exc:
        if exc.code != QUOTA_CODE:
            raise
        used = limit
    return DailyQuota(config.name, limit, float(config.settings["daily_quota_reserve"]), used,
                      reset_time_text(client.limits.clock.now()))


def daily_quotas(workspace: Workspace, *, clock: Clock | None = None) -> list[tuple[str, DailyQuota | str]]:
    """Each Marketo destination's quota today, or why it could not be read (a sentence), in the workspace's order."""
    out: list[tuple[str, DailyQuota | str]] = []
    for config in workspace.destinations.values():
        if config.type != "marketo":
            continue
        try:
            client = open_client(workspace, config, clock=clock)
            out.append((config.name, read_daily_quota(config, client)))
        except (SyncCoreError, TransientError, OSError, sqlite3.Error) as exc:  # e.g. unreachable, read-only
            out.append((config.name, redact(f"daily quota unknown: {exc}")))
    return out
