"""Doctor's checks of an Iterable destination: the headroom left in its shared rate limit, then requests that change nothing,
to see it reachable, the key accepted, and the key's scope.

Iterable tells nothing about a key but how it answers (its error codes: 401 BadApiKey for a key it does not
know, Forbidden or Unauthorized for a call the key may not make), so the scope is probed with the calls a sync
makes, each unable to change anything: a user look-up of an address that cannot exist, a bulk update of no users,
a bulk track of no events when a sync of the destination sends events, and, when one runs update-only, an export of
a one-second window in 2000."""

from __future__ import annotations

from ..clock import Clock
from ..config import DestinationConfig, Workspace
from ..destinations.base import BatchRejected, TransientError
from ..destinations.catalog import DESTINATION_TYPES
from ..destinations.opening import RATE_LIMITS_FILE, limits_for, sandbox_hint
from ..errors import ConfigError, DestinationError, DestinationUnavailable
from ..ratelimit import SharedRateLimits, credential_digest, vendor_limit
from .checks import FAIL, OK, WARN, Check, from_error, not_answering
from .headroom import headroom

PROBE_EMAIL = "sync-core-doctor@example.invalid"  # .invalid: a domain that never exists (RFC 2606)
LOOKUP = ("users/getByEmail", vendor_limit(100, 1.0))  # not a sync's own call: doctor's limit for it
EMPTY_WINDOW = [("dataTypeName", "user"), ("onlyFields", "email"), ("startDateTime", "2000-01-01 00:00:00"),
                ("endDateTime", "2000-01-01 00:00:01")]
SERVER_SIDE_KEY = ("Use a server-side API key of the project (Iterable: Integrations > API keys, type Server-side), "
                   "then update {reference}")


def check_iterable(workspace: Workspace, config: DestinationConfig, clock: Clock) -> list[Check]:
    target = f"destination {config.name}"
    try:
        api_key = config.api_key.resolve(workspace.root)
    except ConfigError as exc:
        return [from_error(target, "configured", exc)]
    syncs = [s for s in workspace.syncs.values() if s.destination == config.name]
    implementations = {DESTINATION_TYPES[config.type].objects[s.object].load() for s in syncs} or {
        o.load() for o in DESTINATION_TYPES[config.type].objects.values()}
    published = {name: limit for impl in implementations for name, limit in impl.LIMITS.items()}
    limits = SharedRateLimits(workspace.state_dir / RATE_LIMITS_FILE, credential_digest(config.base_url, api_key),
                              {**limits_for(workspace, config, published), LOOKUP[0]: LOOKUP[1]},
                              reserve=config.rate_limit_reserve, clock=clock)
    checks = [headroom(target, limits, list(published))]  # before doctor's own requests take slots
    from ..destinations.iterable.client import IterableClient
    reference = f"destinations.{config.name}.api_key ({config.api_key.describe()})"
    client = IterableClient(destination=config.name, base_url=config.base_url, api_key=api_key,
                            key_reference=reference, timeout=config.timeout_seconds, limits=limits)
    client.unreachable_hint = sandbox_hint(workspace, config.base_url) or client.unreachable_hint
    try:
        client.request("GET", "/api/users/getByEmail", params={"email": PROBE_EMAIL}).close()
    except DestinationUnavailable as exc:
        return checks + [from_error(target, "reachable", exc)]
    except TransientError as exc:
        return checks + [not_answering(target, config.base_url, exc, "Iterable")]
    except DestinationError as exc:
        checks.append(Check(target, "reachable", OK, f"{config.base_url} answered"))
        if exc.code.endswith("Forbidden"):  # the key is known, but may not look users up
            return checks + [Check(target, "authenticated", OK, "the API key is known to Iterable"),
                             _scope_refused(target, "look users up", exc, reference)]
        return checks + [from_error(target, "authenticated", exc)]
    checks += [Check(target, "reachable", OK, f"{config.base_url} answered"),
               Check(target, "authenticated", OK, "the API key is accepted (a user look-up answered)")]
    return checks + [_scope(target, client, reference, update_only=any(s.mode == "update" for s in syncs),
                            events=any(s.object == "event" for s in syncs))]


def _scope(target: str, client, reference: str, *, update_only: bool, events: bool) -> Check:
    """May the key make every call a sync of this destination makes?"""
    calls = [("write users", lambda: client.request("POST", "/api/users/bulkUpdate", data=b'{"users": []}').close())]
    if events:
        calls.append(("track events",
                      lambda: client.request("POST", "/api/events/trackBulk", data=b'{"events": []}').close()))
    if update_only:  # an update-only sync learns who exists from the export
        calls.append(("export users", lambda: client.get_column("/api/export/data.json", EMPTY_WINDOW, "email")))
    for what, call in calls:
        try:
            call()
        except BatchRejected:  # Iterable read the (empty) body: the key got past its checks
            pass
        except DestinationError as exc:
            return _scope_refused(target, what, exc, reference)
        except TransientError as exc:
            return Check(target, "scope", WARN, f"could not tell whether the key may {what}: {exc}",
                         "Run doctor again in a minute")
    return Check(target, "scope", OK, "the key may look users up, " + " and ".join(w for w, _ in calls)
                 + " (requests that change nothing)")


def _scope_refused(target: str, what: str, exc: DestinationError, reference: str) -> Check:
    return Check(target, "scope", FAIL, f"the key may not {what}: Iterable answered {exc.code} (a read-only, "
                                        "JavaScript or mobile key?)", SERVER_SIDE_KEY.format(reference=reference))
