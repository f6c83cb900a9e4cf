"""`sync-core reconcile`: compare a sync's model with what its destination holds, field by field; its history.
reconcile/ is imported by the command, not by every command that builds the parser."""

from __future__ import annotations

import json

from .cli_progress import TerminalProgress
from .cli_worker import who
from .config import chosen_workspace_dir, load_workspace
from .runner import run_sync
from .state import StateStore


def add_commands(sub) -> None:
    p = sub.add_parser("reconcile", help="compare a sync's model with the destination's records, field by field")
    p.add_argument("sync")
    p.add_argument("--fields", metavar="F,...", help="compare only these fields: mapped ones, or an event's own "
                                                     "@eventName, @createdAt, @email or @userId (default: all)")
    p.add_argument("--sample", type=int, metavar="N", help="compare N random rows instead of all of them")
    p.add_argument("--history", action="store_true", help="list the sync's past reconciliations instead")
    p.add_argument("--resend", type=int, metavar="ID", help="instead, run the sync for the differing and missing "
                                                            "rows reconciliation ID found (now, or --enqueue)")
    p.add_argument("--enqueue", action="store_true", help="with --resend: queue the run for a worker")
    p.add_argument("--requested-by", metavar="WHO", help="who asked, as recorded (default: your login name)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_reconcile)


def cmd_reconcile(args) -> int:
    workspace = load_workspace(chosen_workspace_dir(args.workspace))
    if args.history:
        return _history(workspace, args)
    if args.resend is not None:
        return _resend(workspace, args)
    from .reconcile import reconcile
    fields = [f.strip() for f in args.fields.split(",") if f.strip()] if args.fields else None
    progress = TerminalProgress()
    report = reconcile(workspace, args.sync, fields=fields, sample=args.sample, observer=progress,
                       requested_by=args.requested_by or who())
    progress.close()
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print("\n".join(report.lines()))
    return 0 if report.clean else 1


def _resend(workspace, args) -> int:
    from .control import resend_differences, rows_to_resend
    from .reconcile import ReconcileError
    sync_id, keys = rows_to_resend(workspace, args.resend)
    if sync_id != args.sync:
        raise ReconcileError(f"resend: reconciliation {args.resend} is of {sync_id}, not of {args.sync}")
    if args.enqueue:
        asked = resend_differences(workspace, args.resend, trigger="cli", requested_by=who())
        print(f"{sync_id}: resend of {len(keys):,} rows {asked.describe()}")
        return 0
    progress = TerminalProgress()
    record = run_sync(workspace, sync_id, trigger="cli", only_keys=keys, observer=progress, requested_by=who())
    progress.close()
    if args.json:
        print(json.dumps(record.to_json(), indent=2))
    else:
        print(f"run {record.id} {record.status}: resent {len(keys):,} rows; " + "; ".join(record.notes))
    return 1 if record.status in ("failed", "blocked", "cancelled") else 0


def _history(workspace, args) -> int:
    workspace.sync(args.sync)
    with StateStore(workspace.state_path, read_only=True) as store:
        records = store.reconciliations(args.sync)
    if args.json:
        print(json.dumps([r.__dict__ for r in records], indent=2))
        return 0
    if not records:
        print(f"{args.sync}: no reconciliation yet (sync-core reconcile {args.sync})")
    for r in records:
        s = r.summary or {}
        found = (f"{s['differing_rows']:,} differing, {s['missing_rows']:,} missing" if s else r.error or r.phase or "")
        print(f"{r.id:>5} {r.started_at} {r.status:<11} {found}")
    return 0
