"""Doctor's rate-limit line, alike for every destination: the headroom each of its shared limits has now."""

from __future__ import annotations

from ..ratelimit import SharedRateLimits
from .checks import OK, WARN, Check


def headroom(target: str, limits: SharedRateLimits, endpoints: list[str]) -> Check:
    """What is left of each of the sync's rate limits now, counted by every process sharing the key."""
    parts, full = [], []
    for endpoint in endpoints:
        limit, allowed, used = limits.limits[endpoint], limits.allowed(endpoint), limits.in_window(endpoint)
        parts.append(f"{endpoint} {used} of {allowed} per {limit.per_seconds:g} s in use")
        if used >= allowed:
            full.append(endpoint)
    reserve = f"; {limits.reserve:.0%} of each limit left to other integrations" if limits.reserve else ""
    found = ", ".join(parts) + reserve
    if full:
        return Check(target, "rate limit", WARN, f"no headroom now on {', '.join(full)}: {found}",
                     "A run or another process using this key takes the whole limit: new runs wait for slots. If "
                     "it stays full, spread the syncs' schedules, or check what else uses the key")
    return Check(target, "rate limit", OK, found)
