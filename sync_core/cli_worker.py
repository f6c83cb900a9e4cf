"""`sync-core worker`, `run --enqueue`, `queue`, `withdraw`, `pause` and `resume`: runs asked for and run by a
worker (worker.py) instead of in the terminal.

The worker, the queue's control and the alerts are imported by the commands that use them: every command (a
`sync-core run` too) imports this module for its parsers and `who`."""

from __future__ import annotations

import getpass
import json
import signal
import sys
from datetime import datetime, timezone

from .config import Workspace, chosen_workspace_dir, load_workspace
from .state import StateStore


def add_commands(sub) -> None:
    p = sub.add_parser("worker", help="run queued and scheduled runs until Ctrl-C (SIGTERM stops it as cleanly)")
    p.add_argument("--concurrency", type=int, default=1, metavar="N", help="syncs run at once (default 1)")
    p.set_defaults(handler=cmd_worker)

    p = sub.add_parser("queue", help="runs asked for and not finished: queued, or taken by a worker")
    p.set_defaults(handler=cmd_queue)

    p = sub.add_parser("withdraw", help="withdraw a queued request (a running run: `sync-core run-cancel RUN_ID`)")
    p.add_argument("request_id", metavar="REQUEST_ID", type=int)
    p.set_defaults(handler=cmd_withdraw)

    p = sub.add_parser("check-alerts", help="raise and send the alerts due now, once (a worker does it every 10 s; "
                                            "run this from cron elsewhere to hear of a workspace whose worker is down)")
    p.set_defaults(handler=cmd_check_alerts)

    for name, text in (("pause", "pause a sync's schedule (runs asked for by hand still run)"),
                       ("resume", "resume a paused sync's schedule")):
        p = sub.add_parser(name, help=text)
        p.add_argument("sync", metavar="SYNC")
        p.set_defaults(handler=cmd_pause if name == "pause" else cmd_resume)


def who() -> str:
    """Who asks, from a terminal: the user's login name."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _workspace(args) -> Workspace:
    return load_workspace(chosen_workspace_dir(args.workspace))


def enqueue(args) -> int:
    """`sync-core run SYNC --enqueue`: queue the run for a worker and say where it stands."""
    from .control import RunKind, ask_for_run
    from .sync_status import live_workers
    workspace = _workspace(args)
    kind = RunKind("cli", "run", run_type="dry_run" if args.dry_run else "sync", full_resync=args.full_resync,
                   retry_failed=args.retry_failed)
    answer = ask_for_run(workspace, args.sync, kind, trigger="cli", requested_by=who(),
                         allow_removals=args.allow_removals)
    if args.json:
        print(json.dumps({"sync": args.sync, "answer": answer.state, "request_id": answer.request_id,
                          "run_id": answer.run_id}, indent=2))
    else:
        print(f"{args.sync}: {answer.describe()}")
    with StateStore(workspace.state_path, read_only=True) as store:
        workers = live_workers(store)
    if not workers:
        print("No worker is running: start one with `sync-core worker` (it runs the queue).", file=sys.stderr)
    return 0


def cmd_worker(args) -> int:
    if args.concurrency < 1:
        print("error: --concurrency must be at least 1", file=sys.stderr)
        return 2
    from .worker import Worker
    worker = Worker(chosen_workspace_dir(args.workspace), concurrency=args.concurrency,
                    say=lambda text: print(text, flush=True))

    def stop(signum, frame):
        if worker.stopping:  # a second Ctrl-C: leave now; the runs' leases tell the next worker they died
            raise KeyboardInterrupt
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.serve()
    return 0


def cmd_check_alerts(args) -> int:
    from .worker import check_alerts
    check_alerts(chosen_workspace_dir(args.workspace), datetime.now(timezone.utc), say=print)
    return 0


def cmd_queue(args) -> int:
    from .sync_status import live_workers
    workspace = _workspace(args)
    with StateStore(workspace.state_path, read_only=True) as store:
        requests = store.open_requests()
        workers = live_workers(store)
    if not requests:
        print("Nothing queued.")
    for r in requests:
        where = f"run {r.run_id}" if r.run_id else ("taken by a worker" if r.status == "taken" else "queued")
        print(f"request {r.id:<6} {r.sync_id:<28} {r.describe():<18} {where:<18} asked by {r.requested_by} "
              f"({r.trigger}) at {r.requested_at}")
    print(f"{len(workers)} worker(s) running" + (": " + ", ".join(w.id for w in workers) if workers else
                                                  " (start one with `sync-core worker`)"))
    return 0


def cmd_withdraw(args) -> int:
    from .control import withdraw_request
    workspace = _workspace(args)
    with StateStore(workspace.state_path, read_only=True) as store:
        request = store.get_request(args.request_id)
    if request is None:
        print(f"error: no request {args.request_id} (see `sync-core queue`)", file=sys.stderr)
        return 2
    if not withdraw_request(workspace, request.id, who()):
        run = f": cancel its run with `sync-core run-cancel {request.run_id}`" if request.run_id else ""
        print(f"error: request {request.id} is no longer queued (it is {request.status}){run}", file=sys.stderr)
        return 2
    print(f"Request {request.id} ({request.sync_id}: {request.describe()}) withdrawn.")
    return 0


def cmd_pause(args) -> int:
    from .control import set_paused
    set_paused(_workspace(args), args.sync, True, who())
    print(f"{args.sync}: schedule paused; `sync-core resume {args.sync}` resumes it.")
    return 0


def cmd_resume(args) -> int:
    from .control import set_paused
    set_paused(_workspace(args), args.sync, False, who())
    print(f"{args.sync}: schedule resumed.")
    return 0
