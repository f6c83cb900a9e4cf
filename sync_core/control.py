"""Asking for runs and stopping them, as the dashboard's buttons and the CLI do: the queue, cancels, pauses.

Nothing here runs a sync: a worker (worker.py) takes what is asked. A run asked for while the sync is queued or
running is answered with the request or run already there (state/run_queue.py)."""

from __future__ import annotations

from dataclasses import dataclass

from .config import Workspace
from .reconcile import ReconcileError
from .state import StateStore
from .state.run_queue import Enqueued


@dataclass(frozen=True)
class RunKind:
    """One of the ways to ask for a run: its button, and what it does."""
    name: str
    label: str
    run_type: str = "sync"
    full_resync: bool = False
    retry_failed: bool = False


RUN_KINDS = {k.name: k for k in (
    RunKind("run", "Run now"),
    RunKind("full_resync", "Full resync", full_resync=True),
    RunKind("dry_run", "Dry run", run_type="dry_run"),
    RunKind("retry_failed", "Retry failed rows", retry_failed=True),
)}


def ask_for_run(workspace: Workspace, sync_id: str, kind: str | RunKind, *, trigger: str, requested_by: str,
                allow_removals: bool = False) -> Enqueued:
    """Queue a run of `kind` (a name in RUN_KINDS, or a RunKind) for a worker; an unknown sync is a config error
    naming it."""
    workspace.sync(sync_id)
    chosen = RUN_KINDS[kind] if isinstance(kind, str) else kind
    with StateStore(workspace.state_path) as store:
        return store.enqueue(sync_id, trigger=trigger, requested_by=requested_by, run_type=chosen.run_type,
                             full_resync=chosen.full_resync, retry_failed=chosen.retry_failed,
                             allow_removals=allow_removals)


def cancel_run(workspace: Workspace, run_id: int, by: str) -> bool:
    """Ask a running run to stop after its requests in flight; False if it is no longer running."""
    with StateStore(workspace.state_path) as store:
        return store.request_cancel(run_id, by)


def withdraw_request(workspace: Workspace, request_id: int, by: str) -> bool:
    """Withdraw a queued request; False once a worker has taken it (then cancel its run)."""
    with StateStore(workspace.state_path) as store:
        return store.withdraw(request_id, by)


def set_paused(workspace: Workspace, sync_id: str, paused: bool, by: str) -> None:
    """Pause or resume a sync's schedule (runs asked for by hand still run)."""
    workspace.sync(sync_id)
    with StateStore(workspace.state_path) as store:
        if paused:
            store.pause_sync(sync_id, by)
        else:
            store.resume_sync(sync_id)


def resend_differences(workspace: Workspace, reconciliation_id: int, *, trigger: str, requested_by: str) -> Enqueued:
    """Queue a run that sends again only the differing and missing rows a reconciliation found, so the next
    reconciliation finds them repaired."""
    rows_to_resend(workspace, reconciliation_id)
    with StateStore(workspace.state_path) as store:
        return store.enqueue_resend(reconciliation_id, trigger=trigger, requested_by=requested_by)


def rows_to_resend(workspace: Workspace, reconciliation_id: int) -> tuple[str, list[str]]:
    """The reconciliation's sync and the keys of its differing and missing rows; a ReconcileError if it is
    unknown or found none."""
    with StateStore(workspace.state_path, read_only=True) as store:
        record = store.reconciliation(reconciliation_id)
        keys = store.resend_keys(reconciliation_id)
    if record is None or record.sync_id not in workspace.syncs:
        raise ReconcileError(f"resend: there is no reconciliation {reconciliation_id} of a sync of this workspace "
                             "(sync-core reconcile SYNC --history lists them)")
    if not keys:
        raise ReconcileError(f"resend: reconciliation {reconciliation_id} of {record.sync_id} found no differing "
                             "or missing row: nothing to resend")
    return record.sync_id, keys
