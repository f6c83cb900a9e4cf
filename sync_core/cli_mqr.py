"""`sync-core mqr`: the billing period's MQR against the limit, by entity and by sync, the daily series, the
forecast with its method, the MQR that bought nothing, and the runs the budget guard stopped."""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import TYPE_CHECKING

from .config import chosen_workspace_dir, load_workspace
from .state import StateStore

if TYPE_CHECKING:
    from .mqr_report import MqrReport


def add_commands(sub) -> None:
    p = sub.add_parser("mqr", help="MQR used this billing period against the limit: by sync, per day, forecast")
    p.add_argument("--period", metavar="YYYY-MM-DD", help="a day of the period to show (default: today's period)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_mqr)


def cmd_mqr(args) -> int:
    try:
        day = date.fromisoformat(args.period) if args.period else None
    except ValueError:
        print(f"error: --period {args.period!r} is not a date: give YYYY-MM-DD (a day of the period)", file=sys.stderr)
        return 2
    from .mqr_report import mqr_report  # this command's alone: not imported by every command
    workspace = load_workspace(chosen_workspace_dir(args.workspace))
    with StateStore(workspace.state_path, read_only=True) as store:
        report = mqr_report(workspace, store, day)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        _print(report, demo=workspace.mqr_demo_scaled)
    return 0


def _print(r: MqrReport, *, demo: bool) -> None:
    scale = " (demo scale)" if demo else ""
    print(f"Billing period {r.period_start} to {r.period_end} (exclusive){'' if r.current else ', closed'}")
    print(f"MQR used: {r.used:,} of {r.limit:,}{scale} ({r.share:.1%}); budget for syncs {r.budget:,}, policy "
          f"{r.policy}")
    for entity, used in sorted(r.by_entity.items()):
        print(f"  entity {entity}: {used:,}")
    if not r.used:
        print("No records counted in this period yet.")
    if r.by_sync:
        # By id, whole: the CLI's name for a sync, unique where display names repeat (the seed's do)
        width = max(len("sync"), *(len(s.sync_id) for s in r.by_sync))
        print(f"\n{'sync':<{width}} {'first counted':>14} {'queried':>10} {'bought nothing':>15}")
        for s in r.by_sync:
            queried = f"{s.queried:,}" if s.queried is not None else "-"
            wasted = f"{s.unproductive:,}" if s.unproductive is not None else "-"
            print(f"{s.sync_id:<{width}} {s.first_counted:>14,} {queried:>10} {wasted:>15}")
            if s.saving:
                print(f"  {s.saving}")
        print("(first counted adds up to the total; a record two syncs query counts once)")
    if r.daily:
        print("\nday          new    cumulative")
        for p in r.daily:
            print(f"{p.day}  {p.new:>8,}  {p.cumulative:>12,}")
    f = r.forecast
    print("\nForecast:" + (f" {f.reason}" if f.reason else ""))
    if f.expected is not None and r.current and f.reason is None:
        print(f"  {f.expected:,} at the period's end (range {f.low:,} to {f.high:,})")
        if f.limit_reached:
            print(f"  the budget was reached on {f.limit_reached}")
        elif f.limit_on or f.limit_earliest:
            print(f"  the budget would be reached on {f.limit_on or 'no day of this period'} (at the fastest rate: "
                  f"{f.limit_earliest or 'no day of this period'})")
        else:
            print("  the budget is not reached in this period at any rate of the window")
    print(f"  method: {f.method}")
    for run in r.blocked_runs:
        print(f"Blocked by the budget guard: run {run.id} of {run.sync_id} at {run.started_at}")
    for note in r.notes:
        print(f"Note: {note}")
    if r.earlier:
        print("\nEarlier periods: " + ", ".join(f"{d}: {used:,}" for d, used in r.earlier[:6]))
