"""`sync-core state check|restore|reset` and `sync-core run-cancel`: the ways out of a damaged state store or a
stuck run. Each destructive one asks first (`--yes` skips the question) and never deletes a file."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .config import Workspace, chosen_workspace_dir, load_workspace
from .cli_worker import who
from .state import StateStore
from .state import backup, integrity

CANCEL_WAIT_SECONDS = 15.0


def add_commands(sub) -> None:
    """Add the commands to the CLI's subparsers."""
    p = sub.add_parser("run-cancel", help="stop a running run after its requests in flight (a run whose process is "
                                          "gone: mark it interrupted, so the sync can run again)")
    p.add_argument("run_id", metavar="RUN_ID", type=int)
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--wait", type=float, default=CANCEL_WAIT_SECONDS, metavar="SECONDS",
                   help=f"how long to wait for the run to stop (default {CANCEL_WAIT_SECONDS:.0f})")
    p.add_argument("--force", action="store_true",
                   help="mark the run interrupted without asking it to stop: for a run whose process is not running "
                        "this sync (it reused the run's pid), or that does not stop")
    p.set_defaults(handler=cmd_run_cancel)

    state = sub.add_parser("state", help="check the state store, restore a backup of it, or reset it")
    actions = state.add_subparsers(dest="state_command", metavar="ACTION", required=True)
    p = actions.add_parser("check", help="run SQLite's integrity check on the state store; list its backups")
    p.set_defaults(handler=cmd_state_check)
    p = actions.add_parser("restore", help="replace the state store with a backup (default: the latest)")
    p.add_argument("backup", metavar="BACKUP", nargs="?", help="a file in .sync-state/backups/ (its name or path)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=cmd_state_restore)
    p = actions.add_parser("reset", help="move the state store aside and start an empty one (every row is resent)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=cmd_state_reset)


def _workspace(args) -> Workspace:
    return load_workspace(chosen_workspace_dir(args.workspace))


def confirm(question: str, yes: bool) -> bool:
    """Ask on the terminal (or read an answer from stdin); `--yes` answers for the user."""
    if yes:
        return True
    print(f"{question}\nContinue? [y/N] ", end="", file=sys.stderr, flush=True)
    if sys.stdin.readline().strip().lower() in ("y", "yes"):
        return True
    print("Nothing changed.", file=sys.stderr)
    return False


def cmd_run_cancel(args) -> int:
    workspace = _workspace(args)
    with StateStore(workspace.state_path) as store:  # opening it already records dead processes' runs
        record = store.get_run(args.run_id)
        if record is None:
            print(f"error: no run {args.run_id} in {workspace.state_path} (see `sync-core runs`)", file=sys.stderr)
            return 2
        if record.status != "running":
            print(f"error: run {record.id} is not running (it is {record.status}): nothing to cancel", file=sys.stderr)
            return 2
        pid, alive = store.run_process(record.id)
        if alive and not args.force:
            return _ask_to_stop(store, record, args)
        process = (f"Its process {pid} is still running: if that really is this sync, stop it first, or both will "
                   "write" if alive else f"Its process {pid} is gone")
        if not confirm(f"Mark run {record.id} of {record.sync_id} (started {record.started_at}) as interrupted? "
                       f"{process}.", args.yes):
            return 1
        if not store.cancel_run(record.id):  # it ended while the question waited for an answer
            ended = store.get_run(record.id)
            print(f"Run {record.id} ended before it was marked: it is {ended.status} (`sync-core run-show {record.id}`). "
                  "Nothing changed.")
            return 0
    print(f"Run {record.id} is marked interrupted. The next run of {record.sync_id} can start; it sends the rows "
          "this one had not confirmed.")
    return 0


def _ask_to_stop(store: StateStore, record, args) -> int:
    """A live run watches for a cancel and stops itself after its requests in flight (runner.py)."""
    if not confirm(f"Cancel run {record.id} of {record.sync_id} (started {record.started_at})? It stops after its "
                   "requests in flight; rows it has not confirmed are sent by the next run.", args.yes):
        return 1
    store.request_cancel(record.id, who())
    print(f"Run {record.id} is asked to stop.", flush=True)
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        time.sleep(0.5)
        status = store.get_run(record.id).status
        if status != "running":
            print(f"Run {record.id} stopped: {status} (`sync-core run-show {record.id}`).")
            return 0
    print(f"Run {record.id} has not stopped yet. It may still be waiting for its requests in flight (up to the "
          "destination's timeout); `sync-core runs` shows when it ends. If its process is not running this sync (the "
          f"pid was reused, or the run was recorded by an older sync-core), `sync-core run-cancel {record.id} --force` "
          "marks it interrupted.")
    return 0


def cmd_state_check(args) -> int:
    path = _workspace(args).state_path
    if not path.exists():
        print(f"No state store yet at {path}: it is created by the first run.")
        return 0
    problems = integrity.full_check(path)  # an empty file or one that is not a database raises StateDamaged
    found = backup.backups(path)
    if problems:
        print(f"DAMAGED: SQLite's integrity check of {path} found:")
        for problem in problems:
            print(f"  {problem}")
        print(integrity.damaged(path, "see above").next_step)
    else:
        print(f"OK: {path} passes SQLite's integrity check ({path.stat().st_size / 1e6:,.1f} MB).")
    if found:
        print("Backups (newest last):")
        for b in found:
            print(f"  {b}  taken {backup.taken_at(b)}")
    else:
        print(f"No backups yet in {backup.folder(path)}: one is taken after a run finishes, at most every "
              f"{backup.BACKUP_EVERY_HOURS} hours.")
    return 1 if problems else 0


def cmd_state_restore(args) -> int:
    path = _workspace(args).state_path
    found = backup.backups(path)
    if args.backup:
        chosen = Path(args.backup)
        if not chosen.exists() and (backup.folder(path) / chosen.name).exists():
            chosen = backup.folder(path) / chosen.name
    else:
        chosen = found[-1] if found else None
    if chosen is None or not chosen.exists():
        listed = ", ".join(b.name for b in found) or "none"
        print(f"error: no backup {'named ' + args.backup if args.backup else 'to restore'} in {backup.folder(path)} "
              f"(backups: {listed}). `sync-core state reset` starts a new, empty store.", file=sys.stderr)
        return 2
    problems = integrity.full_check(chosen)
    if problems:
        print(f"error: the backup {chosen} is damaged too ({problems[0]}); choose another (`sync-core state "
              "check` lists them), or `sync-core state reset`", file=sys.stderr)
        return 2
    if not confirm(f"Replace {path} with the backup {chosen} (taken {backup.taken_at(chosen)})? Runs since then "
                   "leave the history, and rows they confirmed are sent again. The current file is kept aside. "
                   "Stop the dashboard and any run of this workspace first.", args.yes):
        return 1
    aside = backup.restore(path, chosen)
    print(f"Restored {chosen} as {path}." + (f" The previous file is kept as {aside}." if aside else ""))
    return 0


def cmd_state_reset(args) -> int:
    path = _workspace(args).state_path
    if not confirm(f"Move {path} aside and start a new, empty state store? The run history starts over, and each "
                   "sync's next run sends every row again. Stop the dashboard and any run of this workspace first.",
                   args.yes):
        return 1
    aside = backup.move_aside(path, "reset")
    print((f"Moved {path} aside to {aside}. " if aside else f"There was no {path}. ")
          + "The next command starts a new, empty state store.")
    return 0
