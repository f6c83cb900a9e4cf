"""The reconciliation benchmark: Iterable-Production's users reconciled against the sandbox, side by side with the
sync run that sent them.

    python bench/reconcile_benchmark.py                     # 1,000,000 contacts, all of them Iterable users
    python bench/reconcile_benchmark.py --contacts 20000    # a quick look

The sandbox runs in its own process, rate limits off on both sides (the export's 4 a minute do not bound one
export). Measured, each in a process of its own: the full sync run; a reconciliation of the result (clean); and a
reconciliation after 0.1% of the users were edited directly in the sandbox (it must find exactly those). Printed:
wall time, API calls, peak RSS, and their ratios to the sync run's.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench_common import load_average, print_table
from sync_benchmark import NO_LIMIT, SYNC, Sandbox, build_demo, cli_json, set_iterable
from sync_core import StateStore, load_workspace


def main() -> int:
    args = arguments(__doc__, contacts=1_000_000, edited="share of the synced users edited in the sandbox")
    side_by_side(args, SYNC, NO_LIMIT, "sync run (full)", "users",
                 lambda root, sandbox: edit_users(sandbox, args.edited), report)
    return 0


def arguments(doc: str, *, contacts: int, edited: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=contacts)
    parser.add_argument("--edited", type=float, default=0.001, help=edited)
    parser.add_argument("--workdir", help="keep the workspace here (default: a temporary folder, removed)")
    return parser.parse_args()


def side_by_side(args: argparse.Namespace, sync: str, limits: str, run_label: str, items: str,
                 edit: Callable[[Path, Sandbox], set[str]], report: Callable) -> None:
    """A demo whose people are all Iterable users, the client's `limits` line added, its sandbox in a process of
    its own; measured there: the full sync run, a reconciliation of it (clean), then `edit(root, sandbox)` (the
    keys of the rows whose `items` it edited) and a reconciliation that must find them. Then
    report(root, run, clean, found, edited), with the workspace still there."""
    with tempfile.TemporaryDirectory() as tmp:
        root, port = build_demo(args, tmp, product_share=1.0)
        set_iterable(root, limits)
        with Sandbox(root, port, rate_limits=False) as sandbox:
            run = measure(root, sandbox, run_label, ["run", sync, "--json"])
            clean = measure(root, sandbox, "reconciliation, nothing changed", ["reconcile", sync, "--json"])
            edited = edit(root, sandbox)
            found = measure(root, sandbox, f"reconciliation, {len(edited):,} {items} edited",
                            ["reconcile", sync, "--json"])
            report(root, run, clean, found, edited)


def print_steps(steps: list[dict]) -> None:
    print()
    print_table(["step", "wall s", "API calls", "exports", "peak RSS"],
                [[m["label"], f"{m['wall']:.1f}", f"{m['calls']:,}", m["exports"], f"{m['rss_mb']:,.0f} MB"]
                 for m in steps])
    print()


def measure(root: Path, sandbox: Sandbox, label: str, command: list[str]) -> dict:
    mark = sandbox.state.last_request_id()
    result, m = cli_json(root, label, command)
    calls = sandbox.answered_since(mark)
    out = {"label": label, "wall": m.wall, "rss_mb": m.peak_mb, "calls": len(calls),
           "exports": sum(r["endpoint"] == "export/data.json" for r in calls), "result": result}
    print(f"{label}: {m.wall:.1f} s, {len(calls)} API calls, peak RSS {m.peak_mb:,.0f} MB, phases "
          f"{result.get('phases')}", flush=True)
    return out


def edit_users(sandbox: Sandbox, share: float) -> set[str]:
    """Change the jobTitle of `share` of the users directly in the sandbox's file, as someone editing them in
    Iterable would; returns their emails."""
    with sqlite3.connect(sandbox.state.path) as db:
        rows = db.execute("SELECT id, email, data_fields FROM users WHERE email IS NOT NULL AND id % ? = 0",
                          (max(1, round(1 / share)),)).fetchall()
        db.executemany("UPDATE users SET data_fields = ? WHERE id = ?",
                       [(json.dumps({**json.loads(fields), "jobTitle": "Edited by hand"}), rid)
                        for rid, _, fields in rows])
    return {email.lower() for _, email, _ in rows}


def report(root: Path, run: dict, clean: dict, found: dict, edited: set[str]) -> None:
    with StateStore(load_workspace(root).state_path, read_only=True) as store:
        held = {key.strip().lower() for key in store.snapshot_keys(SYNC)} & edited
    funnel = clean["result"]["funnel"]
    differing = {d["key"].strip().lower() for d in found["result"]["differences"]}
    print_steps([run, clean, found])
    print(f"- synced users compared: {funnel['present']:,} present of {funnel['in_snapshot']:,} in the snapshot; "
          f"clean: {clean['result']['clean']}")
    print(f"- after the edits: {found['result']['differing_rows']:,} differing rows found, "
          f"{len(differing & held):,} of the {len(held):,} edited users the sync holds ({len(edited) - len(held)} "
          "other edited users are no synced row: their model rows are invalid)")
    print_ratios(run, clean, "users")


def print_ratios(run: dict, clean: dict, items: str) -> None:
    """The clean reconciliation against the sync run that sent the `items`."""
    print(f"- reconciliation phases (s): {clean['result']['phases']}")
    print(f"- reconciliation / full sync run, wall time: **{clean['wall'] / run['wall']:.1%}**")
    print(f"- reconciliation / full sync run, API calls: **{clean['calls']} / {run['calls']:,}**")
    print(f"- reconciliation / full sync run, peak RSS: **{clean['rss_mb'] / run['rss_mb']:.0%}** "
          f"({clean['rss_mb']:,.0f} MB / {run['rss_mb']:,.0f} MB)")
    print(f"- reconciliation throughput: {clean['result']['funnel']['present'] / clean['wall']:,.0f} {items}/s")
    print(f"- {load_average()} at the end")


if __name__ == "__main__":
    sys.exit(main())
