"""`sync-core doctor`: is everything a sync needs in place, now? Every source and destination of the workspace is
checked: reachable, authenticated, permitted (each model readable; the destination key's scope), the rate limit's
headroom, and the age of password credentials. One line per check, ok / warn / fail, with what was found and, for a
line that is not ok, the next step. Anything failed: the command exits non-zero (warnings alone do not), so cron
and CI can run it.

Checks read and never change: a model is described (no rows are read), a destination gets requests that change
nothing. Doctor does record what it learns of credentials (credential_age.py) in the state store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from ..clock import Clock, SystemClock
from ..config import Workspace
from ..secrets import redact
from ..state import StateStore
from .checks import FAIL, OK, WARN, Check
from .destinations import check_destination
from .sources import check_source

__all__ = ["FAIL", "OK", "WARN", "Check", "Report", "diagnose"]


@dataclass(frozen=True)
class Report:
    workspace: str
    checked_at: datetime
    checks: list[Check]

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    @property
    def warned(self) -> list[Check]:
        return [c for c in self.checks if c.status == WARN]

    def to_json(self) -> dict:
        return {"workspace": self.workspace, "checked_at": self.checked_at.isoformat(timespec="seconds"),
                "ok": not self.failed, "failed": len(self.failed), "warnings": len(self.warned),
                "checks": [c.to_json() for c in self.checks]}


def diagnose(workspace: Workspace, *, clock: Clock | None = None) -> Report:
    """Check every source and destination of the workspace."""
    clock = clock or SystemClock()
    now = datetime.fromtimestamp(clock.now(), timezone.utc)
    checks: list[Check] = []
    with StateStore(workspace.state_path, clock=clock) as store:
        for source in workspace.sources.values():
            checks += check_source(workspace, source, store, now)
        for destination in workspace.destinations.values():
            checks += check_destination(workspace, destination, clock)
    # Every text is redacted once more: a server's message may quote what it was sent.
    checks = [Check(c.target, c.check, c.status, redact(c.found), redact(c.next_step) if c.next_step else None)
              for c in checks]
    return Report(str(workspace.root), now, checks)
