"""Alerts on a change of a sync's status, delivered by webhook and email. The worker calls `observe` and then
`deliver` on each tick; several workers may share a store (each alert is raised once, each attempt sent once).

Rules (docs/architecture.md, Alerts):
- A run's status gives the sync's health: healthy and warning are `ok`; failed and blocked (a guard stopped it) are
  `failed`. Interrupted, cancelled and running runs, and dry runs, say nothing about it.
- An alert is raised on a change only, never per run: ok -> failed (`failed`), failed -> ok (`recovered`). A sync
  alerts have not seen takes its latest run's health, and alerts only if that run failed (so turning alerts on
  over a long history raises nothing old).
- `overdue` (sync -> why, from the caller, who knows schedules) raises `overdue` when a sync becomes overdue and
  `back_on_schedule` when it no longer is.
- Expected rejections never make a run `failed` (counts.RunCounts.status), so they never alert.
- A delivery that fails is recorded (attempts, the redacted error) and retried after RETRY_AFTER, then given up
  (`failed`). Nothing here raises for a delivery, so a run is never failed by its alert.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from itertools import takewhile

from ..config import Workspace
from ..errors import SyncCoreError
from ..secrets import redact
from ..state import StateStore
from ..state.alert_log import AlertRecord, AlertState, NewAlert
from ..state.run_log import TERMINAL_STATUSES, RunRecord
from . import messages
from .channels import DeliveryFailed, post_webhook, send_email
from .settings import EMAIL, WEBHOOK

HEALTH = {"healthy": "ok", "warning": "ok", "failed": "failed", "blocked": "failed"}
# The wait after each failed attempt; one attempt more than waits, then the delivery is given up.
RETRY_AFTER = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15))
MAX_ATTEMPTS = len(RETRY_AFTER) + 1
CAS_TRIES = 5  # another observer moved a sync's state this often in one tick: leave it for the next tick
log = logging.getLogger(__name__)


class Alerts:
    def __init__(self, workspace: Workspace, store: StateStore):
        self.workspace, self.store = workspace, store

    # ---- raising alerts ------------------------------------------------------------------------------------------

    def observe(self, now: datetime, overdue: dict[str, str] | None = None) -> list[AlertRecord]:
        """Look at the runs finished since the last look, and at `overdue` (sync -> e.g. "due 26 h ago"; None:
        leave what is known of schedules as it is); record an alert for every change, with a delivery due per
        configured channel. Returns the alerts this call recorded."""
        at = _iso(now)
        states, latest = self.store.alert_states(), self.store.latest_run_ids()
        syncs = {s for s, run_id in latest.items() if run_id > states.get(s, AlertState(s)).last_run_id}
        if overdue is not None:
            syncs |= {s for s in overdue if not states.get(s, AlertState(s)).overdue}
            syncs |= {s for s, state in states.items() if state.overdue and s not in overdue}
        raised = []
        for sync_id in sorted(syncs):
            raised += self._observe_sync(sync_id, at, overdue)
        return raised

    def _observe_sync(self, sync_id: str, at: str, overdue: dict[str, str] | None) -> list[AlertRecord]:
        for _ in range(CAS_TRIES):
            seen = self.store.alert_state(sync_id)
            new, alerts = self._changes(seen, self.store.runs_after(sync_id, seen.last_run_id), overdue)
            if new == seen:
                return []
            recorded = self.store.record_alerts(seen, new, alerts, self._channels(), at)
            if recorded is not None:
                return recorded
        return []

    def _changes(self, seen: AlertState, runs: list[RunRecord],
                 overdue: dict[str, str] | None) -> tuple[AlertState, list[NewAlert]]:
        """The sync's next alert state after these runs (oldest first) and the alerts on the way."""
        sync_id = seen.sync_id
        # A run still running holds back the ones after it (none, for one sync): its status is not known yet.
        done = list(takewhile(lambda r: r.status in TERMINAL_STATUSES, runs))
        deciding = [r for r in done if r.status in HEALTH and not r.dry_run]
        if seen.health is None:
            deciding = deciding[-1:]  # a sync first seen: its latest run sets its health
        state, alerts = seen, []
        for run in deciding:
            health = HEALTH[run.status]
            if health == "failed" and state.health != "failed":
                alerts.append(messages.failed(self._name(sync_id), state, run, self.store.run_causes(run.id),
                                              **self._context()))
            elif health == "ok" and state.health == "failed":
                alerts.append(messages.recovered(self._name(sync_id), state, run, **self._context()))
            state = replace(state, health=health, status=run.status, status_run_id=run.id)
        if done:
            state = replace(state, last_run_id=done[-1].id)
        # A sync gone from workspace.toml has no schedule to be back on: its flag stays.
        if overdue is not None and (sync_id in overdue or sync_id in self.workspace.syncs):
            is_overdue = sync_id in overdue
            if is_overdue != state.overdue:
                sync = self.workspace.syncs.get(sync_id)
                schedule, latest = sync.schedule if sync else "not in workspace.toml", self._latest_run(sync_id)
                alerts.append(messages.overdue(self._name(sync_id), schedule, overdue[sync_id], latest,
                                               **self._context()) if is_overdue else
                              messages.back_on_schedule(self._name(sync_id), schedule, latest, **self._context()))
                state = replace(state, overdue=is_overdue)
        return state, alerts

    def _latest_run(self, sync_id: str) -> RunRecord | None:
        runs = self.store.list_runs(sync_id=sync_id, limit=1)
        return runs[0] if runs else None

    def _name(self, sync_id: str) -> str:
        sync = self.workspace.syncs.get(sync_id)
        return sync.name if sync else sync_id

    def _context(self) -> dict:
        settings = self.workspace.alerts
        return {"workspace": self.workspace.name, "dashboard_url": settings.dashboard_url if settings else None}

    def _channels(self) -> tuple[str, ...]:
        return self.workspace.alerts.channels if self.workspace.alerts else ()

    # ---- delivering them -----------------------------------------------------------------------------------------

    def deliver(self, now: datetime) -> None:
        """Send the deliveries due at `now`. A failed attempt is recorded with its redacted error and retried after
        RETRY_AFTER; the last is recorded `failed`. Never raises for a delivery (the state store's own errors, which
        stop the worker's writes anyway, do)."""
        at = _iso(now)
        for alert, delivery in self.store.due_deliveries(at):
            attempt = delivery.attempts + 1
            if attempt > MAX_ATTEMPTS:  # the last attempt's sender stopped before it recorded how it went
                self.store.delivery_failed(delivery, delivery.last_error or "the last attempt was not recorded "
                                                                            "(its worker stopped)", None)
                continue
            retry_at = _iso(now + RETRY_AFTER[min(attempt, len(RETRY_AFTER)) - 1])
            if not self.store.claim_delivery(delivery, retry_at):
                continue  # another worker is sending it
            try:
                self._send(alert, delivery.channel)
            except Exception as exc:  # whatever went wrong, the run and the other deliveries go on
                error = str(exc) if isinstance(exc, (DeliveryFailed, SyncCoreError)) else (
                    f"internal error: {type(exc).__name__}: {exc}")
                error = redact(error)
                log.warning("alert %s via %s, attempt %s of %s: %s", alert.id, delivery.channel, attempt,
                            MAX_ATTEMPTS, error)
                self.store.delivery_failed(delivery, error, retry_at if attempt < MAX_ATTEMPTS else None)
            else:
                self.store.delivery_sent(delivery, at)

    def _send(self, alert: AlertRecord, channel: str) -> None:
        settings = self.workspace.alerts
        if channel == WEBHOOK and settings and settings.webhook:
            post_webhook(settings.webhook, self.workspace.root, alert)
        elif channel == EMAIL and settings and settings.email:
            send_email(settings.email, self.workspace.root, alert)
        else:
            raise DeliveryFailed(f"the {channel} channel is no longer configured in [alerts] of "
                                 f"{self.workspace.file}")


def _iso(moment: datetime) -> str:
    """Stored times: UTC ISO-8601 to the second, so text order is time order."""
    if moment.tzinfo is None:
        raise ValueError("alerts need an aware datetime (e.g. datetime.now(timezone.utc)), not a naive one")
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")
