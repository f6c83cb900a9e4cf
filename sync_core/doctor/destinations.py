"""Doctor's checks of a destination: each type declares its own (DestinationType.health_check, in its folder's
__init__.py; doctor/iterable.py and doctor/marketo.py are the two there are). Then, once those pass, what each
sync writes into, when its object has such a target (an Iterable list: found, and static)."""

from __future__ import annotations

from ..clock import Clock
from ..config import DestinationConfig, Workspace
from ..destinations.base import TargetCheck, TransientError
from ..destinations.catalog import DESTINATION_TYPES
from ..destinations.opening import open_destination
from ..errors import DestinationError
from .checks import FAIL, OK, WARN, Check, from_error


def check_destination(workspace: Workspace, config: DestinationConfig, clock: Clock) -> list[Check]:
    check = DESTINATION_TYPES[config.type].load_health_check()
    if check is None:
        return [Check(f"destination {config.name}", "checked", WARN,
                      f"doctor has no checks for {config.type} destinations yet",
                      "Run a sync (or a dry run: `sync-core run SYNC --dry-run`) to see that it works")]
    checks = check(workspace, config, clock)
    if any(c.status == FAIL for c in checks):
        return checks
    syncs = [s for s in workspace.syncs.values() if s.destination == config.name]
    return checks + _targets(workspace, f"destination {config.name}", syncs, clock)


def _targets(workspace: Workspace, target: str, syncs, clock: Clock) -> list[Check]:
    """What each sync writes into (an Iterable list) exists and takes writes: the check its runs make first."""
    out = []
    for sync in syncs:
        destination = open_destination(workspace, sync, clock=clock)
        if not isinstance(destination, TargetCheck):
            continue
        try:
            out.append(Check(target, f"sync {sync.id}", OK, destination.check_target()))
        except (DestinationError, TransientError) as exc:
            out.append(from_error(target, f"sync {sync.id}", exc))
    return out
