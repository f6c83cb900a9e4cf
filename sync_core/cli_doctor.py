"""`sync-core doctor`: every source and destination checked, one line per check; and `sync-core model preview|check`:
a model looked at before its first sync. Thin over doctor/ and model_check.py."""

from __future__ import annotations

import json
import sys

from .config import chosen_workspace_dir, load_workspace
from .doctor import FAIL, OK, Report, diagnose


def add_commands(sub) -> None:
    p = sub.add_parser("doctor", help="check every source and destination: reachable, logged in, permitted, rate "
                                      "limit headroom, password age (exit 1 when a check fails)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_doctor)


def cmd_doctor(args) -> int:
    report = diagnose(load_workspace(chosen_workspace_dir(args.workspace)))
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print_report(report)
    return 1 if report.failed else 0


def print_report(report: Report, out=sys.stdout) -> None:
    targets = max([len(c.target) for c in report.checks] + [6])
    kinds = max([len(c.check) for c in report.checks] + [5])
    print(f"{'status':<6} {'target':<{targets}} {'check':<{kinds}} found", file=out)
    for c in report.checks:
        print(f"{c.status:<6} {c.target:<{targets}} {c.check:<{kinds}} {c.found}", file=out)
        if c.next_step and c.status != OK:
            print(f"{'':<6} {'':<{targets}} {'':<{kinds}} next: {c.next_step}", file=out)
    failed, warned = len(report.failed), len(report.warned)
    if not report.checks:
        print("Nothing to check: the workspace declares no source and no destination.", file=out)
    elif failed:
        names = ", ".join(f"{c.target} {c.check}" for c in report.checks if c.status == FAIL)
        print(f"{failed} check(s) failed ({names}){f', {warned} warning(s)' if warned else ''}.", file=out)
    else:
        print(f"All {len(report.checks)} checks passed{f', {warned} with a warning' if warned else ''}.", file=out)
