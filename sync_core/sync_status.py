"""Where each sync stands now: its last run, whether a run is queued or running, its schedule's next run, whether
it is paused or overdue, and whether a worker is there to run it. The CLI (`sync-core syncs`), the dashboard
and the worker's alerts read the same answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .config import SyncConfig, Workspace
from .history import latest_runs
from .state import RunRecord, StateStore
from .state.run_queue import RequestRecord, ScheduleMark, WorkerRecord


@dataclass(frozen=True)
class SyncStatus:
    sync: SyncConfig
    last_run: RunRecord | None  # the last run that was not a dry run
    last_whole_run: RunRecord | None  # the last that tried every row (not a retry or a resend): the schedule
    # counts from it, and its data problems are the sync's
    running: RunRecord | None  # a run in progress (of any type)
    request: RequestRecord | None  # an open request (queued, or taken by a worker)
    paused: bool
    paused_by: str | None
    next_run_at: datetime | None  # None: manual, or paused
    overdue_by: timedelta | None  # late by more than the schedule's interval

    @property
    def schedule(self) -> str:
        return self.sync.schedule.describe()

    def due(self, now: datetime) -> bool:
        """Its next run's time has passed and nothing is queued or running for it: a worker starts it at its next
        look at the schedules (within seconds), or, with none running, when one starts."""
        return self.next_run_at is not None and self.next_run_at <= now and not (self.running or self.request)

    def overdue_text(self) -> str | None:
        """"due 26 h ago, last run failed: <its error>", for the alert line and the CLI."""
        if self.overdue_by is None:
            return None
        text = f"due {_ago(self.overdue_by)} ago"
        if self.last_run is None:
            return f"{text}, never run"
        text += f", last run {self.last_run.status}"
        if self.last_run.status == "failed" and self.last_run.error:
            text += f": {self.last_run.error.splitlines()[0][:160]}"
        return text

    def to_json(self) -> dict:
        return {"id": self.sync.id, "name": self.sync.name, "schedule": self.schedule, "paused": self.paused,
                "next_run_at": _iso(self.next_run_at),
                "overdue": self.overdue_by is not None,
                "overdue_seconds": int(self.overdue_by.total_seconds()) if self.overdue_by is not None else None,
                "running_run": self.running.id if self.running else None,
                "queued_request": self.request.id if self.request and self.request.status == "queued" else None}


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds") if moment else None


def _ago(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours >= 48:
        return f"{hours / 24:.0f} d"
    if hours >= 1:
        return f"{hours:.0f} h"
    return f"{max(1, round(hours * 60))} min"


def _parse(iso: str | None) -> datetime | None:
    if not iso:
        return None
    moment = datetime.fromisoformat(iso)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def sync_statuses(workspace: Workspace, store: StateStore, now: datetime) -> list[SyncStatus]:
    """Every sync of the workspace, in its order, as it stands at `now` (aware)."""
    latest = latest_runs(store)
    # Unless a sync's last run sent only some rows, each last run is also its last whole run: one query, not two
    whole = latest_runs(store, whole=True) if any(r.partial for r in latest.values()) else latest
    running = {r.sync_id: r for r in store.running_runs()}
    requests: dict[str, RequestRecord] = {}
    for request in store.open_requests():
        requests.setdefault(request.sync_id, request)
    marks = store.schedule_marks()
    return [_status(sync, latest.get(sync.id), whole.get(sync.id), running.get(sync.id), requests.get(sync.id),
                    marks.get(sync.id), now) for sync in workspace.syncs.values()]


def _status(sync: SyncConfig, last: RunRecord | None, last_whole: RunRecord | None, running: RunRecord | None,
            request: RequestRecord | None, mark: ScheduleMark | None, now: datetime) -> SyncStatus:
    paused = bool(mark and mark.paused)
    next_run_at = overdue_by = None
    if not sync.schedule.manual and not paused:
        last_fired = mark.last_fired if mark else None
        next_run_at = sync.schedule.next_run_at(last_fired=last_fired,
                                                last_run_started=last_started(last_whole, running), now=now)
        if running is None:  # a sync that is running is not late; one queued for longer than its interval is
            overdue_by = sync.schedule.overdue_by(next_run_at=next_run_at, now=now)
    return SyncStatus(sync, last, last_whole, running, request, paused, mark.paused_by if mark else None, next_run_at,
                      overdue_by)


def last_started(last: RunRecord | None, running: RunRecord | None) -> datetime | None:
    """When the sync last started a run that tries every row, for an `every N` schedule's anchor: `last`, its
    latest whole run, or the run in progress unless that sends only some rows (a retry of the failed ones, a
    resend of chosen ones: they leave the other rows to the schedule's next run)."""
    moments = [_parse(r.started_at) for r in (last, running) if r is not None and not r.partial]
    return max(moments) if moments else None


def live_workers(store: StateStore) -> list[WorkerRecord]:
    return [w for w in store.workers() if w.alive]


def schedules_wait_for_a_worker(statuses: list[SyncStatus], workers: list[WorkerRecord]) -> bool:
    """A sync has a schedule it is not paused from, and no worker is alive to run it."""
    return not workers and any(not s.sync.schedule.manual and not s.paused for s in statuses)
