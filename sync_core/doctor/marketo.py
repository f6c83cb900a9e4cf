"""Doctor's checks of a Marketo destination: the headroom left in the instance's shared rate limit (before doctor's
own calls take slots), then calls that change nothing: an identity token with the client id and secret
(reachable, authenticated), the custom activity types (each sync's type exists, is approved and has the mapped
attributes: permitted), and today's usage of the daily quota (warn at or under the reserve, fail when used up)."""

from __future__ import annotations

from ..clock import Clock
from ..config import DestinationConfig, Workspace
from ..destinations.base import TransientError
from ..destinations.marketo.activities import MarketoActivities, checked_activity_type
from ..destinations.marketo.quota import OK as QUOTA_OK, USED_UP, open_client, read_daily_quota
from ..errors import ConfigError, DestinationError, DestinationUnavailable
from .checks import FAIL, OK, WARN, Check, from_error, not_answering
from .headroom import headroom


def check_marketo(workspace: Workspace, config: DestinationConfig, clock: Clock) -> list[Check]:
    target = f"destination {config.name}"
    try:
        client = open_client(workspace, config, clock=clock)
    except ConfigError as exc:
        return [from_error(target, "configured", exc)]
    checks = [headroom(target, client.limits, list(MarketoActivities.LIMITS))]
    try:
        client.auth_headers()  # one identity call: a token for the client id and secret
    except DestinationUnavailable as exc:
        return checks + [from_error(target, "reachable", exc)]
    except TransientError as exc:
        return checks + [not_answering(target, config.base_url, exc, "Marketo")]
    except DestinationError as exc:
        return checks + [Check(target, "reachable", OK, f"{config.base_url} answered"),
                         from_error(target, "authenticated", exc)]
    checks += [Check(target, "reachable", OK, f"{config.base_url} answered"),
               Check(target, "authenticated", OK, "Marketo's identity service gave a token for the client id and "
                                                  "secret")]
    try:
        quota = _quota(target, config, client)  # first: once it is used up, Marketo answers every call 607
        if quota.status == FAIL:
            return checks + [quota]
        return checks + _permitted(target, workspace, config, client) + [quota]
    except DestinationError as exc:
        return checks + [from_error(target, "permitted", exc)]
    except TransientError as exc:
        return checks + [Check(target, "permitted", WARN, f"Marketo did not answer well: {exc}",
                               "Run doctor again in a minute")]


def _permitted(target: str, workspace: Workspace, config: DestinationConfig, client) -> list[Check]:
    """Each sync's activity type, checked as a run checks it before its first add."""
    syncs = [s for s in workspace.syncs.values() if s.destination == config.name]
    types = client.call("GET", "/rest/v1/activities/external/types.json").get("result") or []
    checks = []
    for sync in syncs:
        name = sync.options["activity_type"]
        try:
            checked_activity_type(config.name, sync, types)
        except DestinationError as exc:
            checks.append(from_error(target, f"activity type {name}", exc))
            continue
        checks.append(Check(target, f"activity type {name}", OK, f"sync {sync.id}: the type exists, is approved "
                                                                 "and has every mapped attribute"))
    if not syncs:
        checks.append(Check(target, "permitted", OK, f"the API user may read the activity types ({len(types)})"))
    return checks


def _quota(target: str, config: DestinationConfig, client) -> Check:
    quota = read_daily_quota(config, client)
    if quota.state == QUOTA_OK:
        return Check(target, "daily quota", OK, quota.describe())
    if quota.state == USED_UP:
        return Check(target, "daily quota", FAIL, f"used up: {quota.describe()}",
                     f"Runs of this destination send nothing until {quota.resets_at}; other integrations share the "
                     "quota, so ask their owners what uses it")
    return Check(target, "daily quota", WARN, f"into the reserve: {quota.describe()}",
                 f"Runs now send only what is left above the reserve; the rest waits for {quota.resets_at}. Lower "
                 f"destinations.{config.name}.daily_quota_reserve only if the other integrations need less")
