"""Change guards: a run stops before it changes anything when its plan looks like a broken model rather than
a change in the data (as drt's and Hightouch's guards do).

- The model returned no rows while the snapshot holds some: a failed upstream job, a wrong filter, a table
  emptied by a deploy. Carrying on would take every row out of the snapshot, and the next good run would
  resend everything.
- The plan removes more than a share of the snapshot (`max_removal_share`, 20% by default).

These are pure functions of the plan's counts and the snapshot's size: a guard reads nothing and writes
nothing. So is the MQR budget guard (`mqr_over_budget`): a run that would count more records than the period's
budget allows is stopped under `[mqr] policy = "block"` (status `failed`, class `config`), and noted under
"warn". A blocked run is recorded with status `blocked` and the reason; the user accepts the change once with
`sync-core run --allow-removals`, or for good by raising the sync's `max_removal_share` (1 switches it off).
"""

from __future__ import annotations

from datetime import date

from .config import MqrConfig
from .counts import RunCounts
from .errors import SyncCoreError


class RunBlocked(SyncCoreError):
    """A guard stopped the run before it changed anything."""
    error_class = "data"


def check_change_guards(sync_id: str, counts: RunCounts, snapshot_rows: int, max_removal_share: float, *,
                        allow_removals: bool = False) -> None:
    """Raise RunBlocked when the plan empties the snapshot or removes more than `max_removal_share` of it."""
    if allow_removals or snapshot_rows == 0:
        return
    removed = counts.operation("removed")
    accept = (f"If this is intended, run it once with `sync-core run {sync_id} --allow-removals`, or raise "
              f"syncs.{sync_id}.max_removal_share in workspace.toml (1 switches the guard off)")
    if counts.queried == 0:
        raise RunBlocked(f"Blocked: the model returned no rows, and the snapshot holds {snapshot_rows:,}. Nothing "
                         "was sent or recorded. Check the model's source (an empty table, a failed upstream job, "
                         f"a filter). {accept}.")
    if removed / snapshot_rows > max_removal_share:
        raise RunBlocked(f"Blocked: {removed:,} of the {snapshot_rows:,} rows in the snapshot "
                         f"({removed / snapshot_rows:.0%}) are no longer returned by the model, over this sync's "
                         f"max_removal_share of {max_removal_share:.0%}. Nothing was sent or recorded. Nothing is "
                         f"deleted in the destination for removed rows, but they leave the snapshot. {accept}.")


class MqrBudgetExceeded(SyncCoreError):
    """Under `[mqr] policy = "block"`, the run would count more records than the period's budget allows: it
    stopped before counting or sending anything."""
    error_class = "config"


def mqr_over_budget(mqr: MqrConfig, *, used: int, new: int, period: date) -> str | None:
    """Why counting `new` records on top of the period's `used` passes the budget (the limit less the reserve);
    None when it does not. Pure, like the change guards."""
    if used + new <= mqr.budget:
        return None
    reserve = f" less its reserve: a budget of {mqr.budget:,} for the syncs" if mqr.budget < mqr.limit else ""
    return (f"MQR budget: this run would count {new:,} records new to the billing period starting {period:%Y-%m-%d}, "
            f"on top of the {used:,} counted so far: {used + new:,}, over the limit of {mqr.limit:,}{reserve}.")
