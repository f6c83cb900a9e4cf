"""Doctor's checks of a destination: each type declares its own (DestinationType.health_check, in its folder's
__init__.py); doctor/iterable.py and doctor/marketo.py are the two there are."""

from __future__ import annotations

from ..clock import Clock
from ..config import DestinationConfig, Workspace
from ..destinations.catalog import DESTINATION_TYPES
from .checks import WARN, Check


def check_destination(workspace: Workspace, config: DestinationConfig, clock: Clock) -> list[Check]:
    check = DESTINATION_TYPES[config.type].load_health_check()
    if check is None:
        return [Check(f"destination {config.name}", "checked", WARN,
                      f"doctor has no checks for {config.type} destinations yet",
                      "Run a sync (or a dry run: `sync-core run SYNC --dry-run`) to see that it works")]
    return check(workspace, config, clock)
