"""`sync-core`: run syncs and read what they did, from a terminal. A thin layer over sync_core's public API."""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import traceback
from datetime import datetime, timezone
from pathlib import Path

from . import cli_doctor, cli_model, cli_mqr, cli_reconcile, cli_state, cli_worker
from .cli_progress import TerminalProgress
from .config import WORKSPACE_ENV, Workspace, chosen_workspace_dir, load_workspace
from .counts import invariant_violations
from .credential_age import credential_ages
from .demo import DEFAULT_CONTACTS
from .errors import SyncCoreError
from .outcomes import ERROR_CLASSES
from .run_context import RunEvents
from .runner import run_sync
from .secrets import redact
from .snowflake_settings import DEFAULT_EMULATOR_PORT
from .state import RunRecord, StateStore


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except SyncCoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `sync-core runs | head`: the reader left; not an error
        sys.stderr.close()
        return 0
    except Exception:  # a bug: its traceback, less any secret value its messages may quote
        print(redact(traceback.format_exc()), end="", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sync-core", description=__doc__)
    parser.add_argument("--workspace", "-w", metavar="DIR",
                        help=f"the workspace folder (default: ${WORKSPACE_ENV}, else the current folder)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("syncs", help="list the workspace's syncs and their last run")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_syncs)

    p = sub.add_parser("run", help="run one sync now")
    p.add_argument("sync", metavar="SYNC", help="the sync's id (see `sync-core syncs`)")
    p.add_argument("--full-resync", action="store_true", help="send every row again, ignoring the snapshot")
    p.add_argument("--dry-run", action="store_true", help="plan only: nothing is sent, recorded as synced or counted in MQR")
    p.add_argument("--allow-removals", action="store_true",
                   help="accept, this once, a model that returns no rows or removes more than the sync's "
                        "max_removal_share of the snapshot (a change guard blocks such a run otherwise)")
    p.add_argument("--retry-failed", action="store_true",
                   help="send only the rows that failed or were rejected for a real reason (not expected ones)")
    p.add_argument("--enqueue", action="store_true", help="queue the run for a worker (`sync-core worker`) and return")
    p.add_argument("--json", action="store_true", help="print the run record as JSON")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("runs", help="the run history, newest first")
    p.add_argument("--sync", metavar="SYNC")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_runs)

    p = sub.add_parser("run-show", help="one run: phases, counts, causes")
    p.add_argument("run_id", metavar="RUN_ID|SYNC", help="a run's id, or a sync's id for its last run (not a dry run)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_run_show)

    p = sub.add_parser("failures", help="why rows are not synced: causes with counts and example keys")
    p.add_argument("--sync", metavar="SYNC")
    p.add_argument("--run", metavar="RUN_ID", type=int, help="the causes of one run (default: the current state)")
    p.add_argument("--class", dest="error_class", choices=ERROR_CLASSES)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_failures)

    cli_state.add_commands(sub)  # run-cancel, state check|restore|reset
    cli_worker.add_commands(sub)  # worker, queue, withdraw, pause, resume, check-alerts
    cli_mqr.add_commands(sub)  # mqr
    cli_doctor.add_commands(sub)  # doctor
    cli_model.add_commands(sub)  # model preview|check
    cli_reconcile.add_commands(sub)  # reconcile

    p = sub.add_parser("up", help="the demo in one command: workspace, history, sandbox and dashboard (Ctrl-C stops)")
    p.add_argument("--port", type=int, default=8501, help="the dashboard's port (default 8501)")
    _add_new_demo_options(p, " in a new demo")
    p.add_argument("--days", type=int, default=3, help="simulated days of history on the first start (default 3)")
    p.add_argument("--snowflake", action="store_true",
                   help="a new demo reads its warehouse from a local Snowflake emulator through Snowpark (default "
                        "folder ./demo-workspace-snowflake; needs pip install -e \".[snowflake-demo]\")")
    p.set_defaults(handler=cmd_up)

    p = sub.add_parser("sandbox", help="serve the workspace's local sandboxes (the demo: Iterable and Marketo) until Ctrl-C")
    p.add_argument("--name", metavar="NAME", help="only this one of the sandboxes workspace.toml declares")
    p.add_argument("--port", type=int, help="default: the sandbox's port in workspace.toml")
    p.add_argument("--no-rate-limits", action="store_true", help="answer as fast as possible, never 429")
    p.add_argument("--fault", action="append", default=[], metavar="SPEC",
                   help="inject a fault: ENDPOINT:KIND[:key=value,...], e.g. "
                        "users/bulkUpdate:server_error:status=503,times=2 (repeatable)")
    p.add_argument("--clear-faults", action="store_true", help="remove the sandbox's faults first")
    p.add_argument("--no-serve", action="store_true",
                   help="only change the sandbox's faults, e.g. of a sandbox already running, and exit")
    p.set_defaults(handler=cmd_sandbox)

    demo = sub.add_parser("demo", help="the offline demo workspace").add_subparsers(dest="demo_command",
                                                                                      metavar="ACTION")
    p = demo.add_parser("init", help="write a demo workspace (DuckDB warehouse + Iterable and Marketo sandboxes)")
    p.add_argument("dir", metavar="DIR", nargs="?", help="default: --workspace, else the current folder")
    _add_new_demo_options(p)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--source", choices=("duckdb", "snowflake"), default="duckdb",
                   help="where the models read the warehouse: an embedded DuckDB file (default), or a local "
                        "Snowflake emulator through Snowpark (needs pip install -e \".[snowflake-demo]\")")
    p.set_defaults(handler=cmd_demo_init)
    p = demo.add_parser("advance", help="move the demo one simulated day forward")
    p.add_argument("--days", type=int, default=1)
    p.set_defaults(handler=cmd_demo_advance)
    p = demo.add_parser("emulator", help="serve a Snowflake demo's emulator, its warehouse loaded, until Ctrl-C")
    p.set_defaults(handler=cmd_demo_emulator)
    return parser


def _add_new_demo_options(p: argparse.ArgumentParser, where: str = "") -> None:
    """How a new demo workspace is written, the same for `up` and `demo init`."""
    p.add_argument("--contacts", type=int, default=None,
                   help=f"how many contacts{where} (default {DEFAULT_CONTACTS:,})")
    p.add_argument("--sandbox-port", type=int, default=8765,
                   help=f"the Iterable sandbox's port{where} (default 8765; Marketo's: the next one)")
    p.add_argument("--snowflake-port", type=int, default=DEFAULT_EMULATOR_PORT,
                   help=f"the Snowflake emulator's port{where} (default {DEFAULT_EMULATOR_PORT})")


def _workspace(args) -> Workspace:
    return load_workspace(chosen_workspace_dir(args.workspace))


def _store(workspace: Workspace) -> StateStore:
    """For the commands that only read: opened read-only, they work on a read-only workspace and never write."""
    return StateStore(workspace.state_path, read_only=True)


def cmd_syncs(args) -> int:
    # What only this command reads, imported here: every command (a run too) would pay for it otherwise
    from .destinations.marketo.quota import OK as QUOTA_OK, DailyQuota, daily_quotas
    from .state.reports import latest_runs
    from .sync_status import live_workers, schedules_wait_for_a_worker, sync_statuses
    workspace = _workspace(args)
    now = datetime.now(timezone.utc)
    with _store(workspace) as store:
        statuses = sync_statuses(workspace, store, now)
        workers = live_workers(store)
        ages = {age.source: age for age in credential_ages(workspace, store, now)}
        gone = {s: r for s, r in latest_runs(store).items() if s not in workspace.syncs}
    quotas = dict(daily_quotas(workspace))  # Marketo destinations: one usage call each
    rows = []
    for status in statuses:
        sync, last = status.sync, status.last_run  # a dry run is a preview, not a sync's last run
        age = ages.get(workspace.models[sync.model].source)
        dbt = workspace.models[sync.model].dbt
        rows.append({"id": sync.id, "name": sync.name, "model": sync.model, "destination": sync.destination,
                     "object": sync.object, "mode": sync.mode, **status.to_json(),
                     **({"dbt": dbt.to_json()} if dbt else {}),
                     **({"dbt_problem": str(problem)} if (problem := workspace.models[sync.model].dbt_problem) else {}),
                     "last_run": last.to_json() if last else None,
                     "password_age": age.to_json(now) if age else None})
        if sync.destination in quotas:
            quota = quotas[sync.destination]
            rows[-1]["daily_quota"] = quota.to_json() if isinstance(quota, DailyQuota) else {"error": quota}
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    pad = max([28] + [len(r["id"]) + 1 for r in rows])  # ids and names whole, the columns aligned
    named = max([42] + [len(r["name"]) + 1 for r in rows])
    for status, r in zip(statuses, rows):
        last = r["last_run"]
        state = f"last run {last['id']} {last['status']} at {last['started_at']}" if last else "never run"
        print(f"{r['id']:<{pad}} {r['name']:<{named}} {r['object'] + '/' + r['mode']:<16} {r['schedule']:<14} {state}")
        print(f"{'':<{pad}} {_next_run(status)}")
        if "dbt" in r:
            dbt = workspace.models[r["model"]].dbt
            print(f"{'':<{pad}} model {r['model']}: {dbt.summary()}")
            if dbt.description:
                print(f"{'':<{pad}}   {dbt.description}")
        if "dbt_problem" in r:
            print(f"{'':<{pad}} WARNING: {r['dbt_problem']}")
        age = r["password_age"]
        if age:
            print(f"{'':<{pad}} {'WARNING: ' if age['status'] != 'ok' else 'password: '}{age['message']}")
    for destination, quota in quotas.items():
        if isinstance(quota, DailyQuota):
            warning = "" if quota.state == QUOTA_OK else f"WARNING ({quota.state}): "
            print(f"destination {destination}: {warning}{quota.describe()}")
        else:
            print(f"destination {destination}: {quota}")
    if schedules_wait_for_a_worker(statuses, workers):
        print("No worker is running: scheduled runs wait for one (`sync-core worker`).")
    for sync_id, last in sorted(gone.items()):
        print(f"Runs of '{sync_id}', no longer in {workspace.file.name} (last run {last.id}, {last.started_at}): "
              f"`sync-core runs --sync {sync_id}` shows them. A renamed sync's new id has no snapshot of its "
              "own: its first run sends every row again.")
    return 0


def _next_run(status) -> str:
    if status.running:
        return f"running now (run {status.running.id})"
    if status.request:
        return f"queued (request {status.request.id}, asked by {status.request.requested_by})"
    if status.paused:
        return f"schedule paused by {status.paused_by}"
    if status.next_run_at is None:
        return "manual: runs when asked"
    if status.overdue_by is not None:
        return f"OVERDUE: {status.overdue_text()}"
    when = status.next_run_at.isoformat(timespec='minutes')
    return f"due since {when}: a worker starts it" if status.due(datetime.now(timezone.utc)) else f"next run {when}"


def cmd_run(args) -> int:
    if args.full_resync and args.retry_failed:
        print("error: --full-resync sends every row; --retry-failed only the failed ones: choose one", file=sys.stderr)
        return 2
    if args.enqueue:
        return cli_worker.enqueue(args)
    workspace = _workspace(args)
    progress = TerminalProgress()
    started: list[int] = []
    try:
        record = run_sync(workspace, args.sync, trigger="cli", full_resync=args.full_resync, dry_run=args.dry_run,
                          allow_removals=args.allow_removals, retry_failed=args.retry_failed, observer=progress,
                          requested_by=cli_worker.who(), events=RunEvents(started=[started.append]))
    except KeyboardInterrupt:
        progress.close()
        if not started:
            raise
        print(f"Run {started[0]} of {args.sync} interrupted: the rows it had not confirmed are sent by the next run "
              f"(`sync-core run-show {started[0]}`).", file=sys.stderr)
        return 130
    progress.close()
    try:
        if args.json:
            print(json.dumps(record.to_json(), indent=2))
        else:
            with _store(workspace) as store:
                _print_run(record, store)
    except BrokenPipeError:  # the reader left (`| head`); the run is recorded, and the exit code still tells
        _drop_stdout()
    return 1 if record.status in ("failed", "blocked", "cancelled", "interrupted") else 0


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so Python's flush at exit does not meet the broken pipe again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _history_of(workspace: Workspace, store: StateStore, sync_id: str) -> None:
    """A sync whose history is asked for: one of the workspace, or one that has runs though workspace.toml no
    longer names it (renamed or removed: its runs stay under its old id), said on stderr. Else the unknown id's
    error, with the ids there are."""
    if sync_id in workspace.syncs:
        return
    if not store.list_runs(sync_id=sync_id, limit=1):
        workspace.sync(sync_id)  # raises, naming the syncs there are
    print(f"note: {workspace.file} no longer has a sync '{sync_id}'; these are its runs from before. A sync renamed "
          "keeps its runs under its old id, and its new id starts with no snapshot: its first run sends every row.",
          file=sys.stderr)


def cmd_runs(args) -> int:
    workspace = _workspace(args)
    with _store(workspace) as store:
        if args.sync:
            _history_of(workspace, store, args.sync)
        runs = store.list_runs(sync_id=args.sync, limit=args.limit)
    if args.json:
        print(json.dumps([r.to_json() for r in runs], indent=2))
        return 0
    if not runs:
        print("No runs yet. Start one with `sync-core run SYNC` (see `sync-core syncs`).")
        return 0
    pad = max([26] + [len(r.sync_id) + 1 for r in runs])  # ids whole, the columns aligned
    print(f"{'run':>5}  {'sync':<{pad}} {'status':<11} {'started (UTC)':<25} {'queried':>9} {'planned':>8} "
          f"{'synced':>8} {'expected':>8} {'invalid':>7} {'other':>7} {'failed':>7}")
    for r in runs:
        c = r.counts.as_dict()
        print(f"{r.id:>5}  {r.sync_id:<{pad}} {r.status:<11} {r.started_at:<25} {c['queried']:>9,} {c['planned']:>8,} "
              f"{c['synced']:>8,} {c['rejected_expected']:>8,} {c['invalid']:>7,} {c['rejected_other']:>7,} "
              f"{c['failed']:>7,}")
    return 0


def cmd_run_show(args) -> int:
    from .state.reports import latest_runs
    workspace = _workspace(args)
    with _store(workspace) as store:
        if args.run_id in workspace.syncs or not (args.run_id.isascii() and args.run_id.isdigit()):
            record = latest_runs(store).get(args.run_id)  # a sync removed from workspace.toml keeps its runs
            if record is None:
                workspace.sync(args.run_id)  # a config error naming the syncs, for an id that is neither
            missing = f"sync '{args.run_id}' has not run yet: `sync-core run {args.run_id}` runs it"
        else:
            record = store.get_run(int(args.run_id))
            missing = f"no run {args.run_id} in {workspace.state_path} (see `sync-core runs`)"
        if record is None:
            print(f"error: {missing}", file=sys.stderr)
            return 2
        if args.json:
            data = record.to_json()
            data["causes"] = [_cause_json(c) for c in store.run_causes(record.id)]
            print(json.dumps(data, indent=2))
        else:
            _print_run(record, store)
    return 0


def cmd_failures(args) -> int:
    from .history import current_causes, run_causes  # only this command reads them
    from .state.reports import latest_runs
    workspace = _workspace(args)
    with _store(workspace) as store:
        if args.sync:
            _history_of(workspace, store, args.sync)
        if args.run is not None:
            run = store.get_run(args.run)
            if run is None:
                print(f"error: no run {args.run} (see `sync-core runs`)", file=sys.stderr)
                return 2
            causes = run_causes(store, args.run, error_class=args.error_class)
            runs = [run]
        else:
            causes = current_causes(store, sync_id=args.sync, error_class=args.error_class)
            runs = [r for s, r in latest_runs(store).items() if args.sync in (None, s)]
    if args.json:
        print(json.dumps([_cause_json(c) for c in causes], indent=2))
        return 0
    scope = f"run {args.run}" if args.run is not None else "rows not synced as they stand"
    # A run that failed as a whole (a password, an API key) is told first: it is not among its rows' causes
    for run in runs:
        if run.status == "failed" and args.error_class in (None, run.error_class):
            print(f"Run {run.id} of {run.sync_id} failed as a whole ({run.error_class}): {run.error} "
                  f"(`sync-core run-show {run.id}`)")
    if not causes:
        print(f"No failures of rows ({scope}).")
        return 0
    print(f"Causes ({scope}):")
    for c in causes:
        print(f"  {c.rows:>9,}  {c.error_class:<10} {c.outcome:<9} {c.code}: {c.template}")
        if c.example_keys:
            print(f"             e.g. {', '.join(c.example_keys)}")
    return 0


def cmd_up(args) -> int:
    from .launcher import up
    if args.days < 1:
        print("error: --days must be at least 1", file=sys.stderr)
        return 2
    root = chosen_workspace_dir(args.workspace, "demo-workspace-snowflake" if args.snowflake else "demo-workspace")
    return up(root, contacts=args.contacts or DEFAULT_CONTACTS, days=args.days, port=args.port,
              sandbox_port=args.sandbox_port, observer_factory=lambda: TerminalProgress(plain_phases=False),
              snowflake_port=args.snowflake_port if args.snowflake else None)


def cmd_sandbox(args) -> int:
    from .sandbox.serve import Setup, run
    from .sandbox.vendors import vendor_named
    workspace = _workspace(args)
    if not workspace.sandboxes:
        print(f"error: {workspace.file} has no [sandbox] section (nor [sandboxes.NAME] tables)", file=sys.stderr)
        return 2
    if args.name is not None and args.name not in workspace.sandboxes:
        print(f"error: {workspace.file} declares no sandbox '{args.name}' (sandboxes: "
              f"{', '.join(workspace.sandboxes)})", file=sys.stderr)
        return 2
    chosen = [workspace.sandboxes[args.name]] if args.name else list(workspace.sandboxes.values())
    if len(chosen) > 1 and (args.port or args.fault):
        print(f"error: --port and --fault apply to one sandbox: name it with --name (sandboxes: "
              f"{', '.join(workspace.sandboxes)})", file=sys.stderr)
        return 2
    setups = [Setup(vendor_named(sb.vendor), sb.state, args.port or sb.port, sb.project,
                    sb.api_key.resolve(workspace.root)) for sb in chosen]
    try:
        return run(setups, faults=args.fault, clear_faults=args.clear_faults, serve=not args.no_serve,
                   rate_limits=not args.no_rate_limits)
    except ValueError as error:  # a bad --fault spec, before anything changed
        print(f"error: argument --fault: {error}", file=sys.stderr)
        return 2


def cmd_demo_init(args) -> int:
    from .demo.workspace import init_demo
    target = Path(args.dir) if args.dir else chosen_workspace_dir(args.workspace)
    summary = init_demo(target, contacts=args.contacts or DEFAULT_CONTACTS, seed=args.seed,
                        sandbox_port=args.sandbox_port, source=args.source, emulator_port=args.snowflake_port)
    print(f"Demo workspace written to {summary.root}: {summary.contacts:,} contacts, "
          f"{summary.iterable_users:,} of them already Iterable users (created by the product).")
    if args.source == "snowflake":
        print(f"Next: `sync-core -w {summary.root} demo emulator` and `sync-core -w {summary.root} sandbox`, each "
              f"in a terminal of its own, then `sync-core -w {summary.root} run iterable-production` in a third "
              f"(or `sync-core -w {summary.root} up` for all of it and the dashboard).")
    else:
        print(f"Next: `sync-core -w {summary.root} sandbox` in one terminal, then "
              f"`sync-core -w {summary.root} run iterable-production` in another.")
    return 0


def cmd_demo_advance(args) -> int:
    from .demo.workspace import advance_demo, emulator_answers
    workspace = _workspace(args)
    for _ in range(args.days):
        s = advance_demo(workspace)
        # Day 1 is the warehouse as created (its day 0), as `sync-core up` counts the days of its history. The
        # warehouse's own timestamps (s.as_of) are a fixed, seeded calendar, not today's: not printed beside the
        # runs' dates, which are today's.
        print(f"Day {s.day + 1} of the demo: {s.new_contacts:,} new "
              f"contacts, {s.changed_contacts:,} changed, {s.removed_contacts:,} removed; the product created "
              f"{len(s.product_created_users):,} Iterable users.")
    emulator = workspace.snowflake_emulator
    if emulator is not None:
        print(f"The Snowflake emulator on port {emulator.port} serves the new day." if emulator_answers(emulator) else
              f"The Snowflake emulator is not running on port {emulator.port}: it loads the new day when it starts "
              f"(`sync-core -w {workspace.root} demo emulator`).")
    return 0


def cmd_demo_emulator(args) -> int:
    from .demo.snowflake_emulator import serve
    return serve(_workspace(args))


def _cause_json(c) -> dict:
    return {"cause_id": c.cause_id, "code": c.code, "class": c.error_class, "outcome": c.outcome,
            "message": c.template, "rows": c.rows, "example_keys": c.example_keys}


def _print_run(record: RunRecord, store: StateStore) -> None:
    c = record.counts.as_dict()
    print(f"Run {record.id} of {record.sync_id}: {record.status.upper()}"
          f"{'' if record.kind == 'run' else f' ({record.kind})'}")  # a dry run, a retry of failed rows...
    print(f"  started {record.started_at}, finished {record.finished_at or '-'}, trigger {record.trigger}, "
          f"config {record.config_fingerprint}")
    if record.error:
        print(f"  error ({record.error_class}): {record.error}")
    for note in record.notes:
        print(f"  note: {note}")
    if record.phases:
        print("  phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in record.phases.items()))
    print(f"  queried {c['queried']:,} = invalid {c['invalid']:,} + unchanged {c['unchanged']:,} "
          f"+ planned {c['planned']:,} - removed {c['removed']:,}")
    print(f"  planned {c['planned']:,} = added {c['added']:,} + changed {c['changed']:,} + removed {c['removed']:,} "
          f"+ retried {c['retried']:,}")
    print(f"          = synced {c['synced']:,} + rejected expected {c['rejected_expected']:,} + rejected other "
          f"{c['rejected_other']:,} + failed {c['failed']:,} + not attempted {c['not_attempted']:,}")
    if record.mqr_new is not None:  # a dry run counts nothing: what the run would add
        print(f"  MQR: {'would add' if record.dry_run else 'added'} {record.mqr_new:,} records new to the period")
    standing = record.counts
    if standing.repeated_expected or standing.repeated_other:
        print(f"  standing: {standing.repeated_other:,} real and {standing.repeated_expected:,} expected rejections "
              "repeat an earlier run's, for the same cause (not new problems)")
    problems = invariant_violations(c)
    if problems:
        print("  COUNTS DO NOT ADD UP: " + "; ".join(problems))
    causes = store.run_causes(record.id)
    if causes:
        print("  causes:")
        for cause in causes:
            print(f"    {cause.rows:>9,}  {cause.error_class:<10} {cause.outcome:<9} {cause.code}: {cause.template}")


def entry() -> None:
    """The `sync-core` command and `python -m sync_core.cli`: main(), then an exit without the interpreter's
    collections over every object the imports made (pyarrow, DuckDB, sqlglot), which the OS frees anyway: one
    collection here finalizes what the command left unreachable (a connection in a reference cycle is closed,
    as before), the rest is frozen; 0.15-0.2 s of every command's end here. What a command writes is closed
    before main() returns, and stdout and stderr are still flushed at exit. Not in main(): tests call that in
    their own long-lived process."""
    code = main()
    gc.collect()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    entry()
