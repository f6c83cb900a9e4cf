"""The events reconciliation benchmark: the seed's events sync (iterable-first-namespace-events) reconciled against
the sandbox's customEvent export, side by side with the sync run that sent the events.

    python bench/reconcile_events_benchmark.py                     # 125,000 contacts: about 100,000 events
    python bench/reconcile_events_benchmark.py --contacts 5000     # a quick look

The sandbox runs in its own process, rate limits off on both sides (one export is one call of the 4 a minute
either way). Measured, each in a process of its own (reconcile_benchmark.measure: wall time, API calls, peak
RSS through a small wrapper process): the full sync run; a reconciliation of the result (clean); and one after
0.1% of the events were edited directly in the sandbox (it must find exactly those). Printed with their ratios.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from reconcile_benchmark import make_demo, measure, print_steps  # noqa: E402  (the same demo, wrapper, table)
from sync_benchmark import Sandbox  # noqa: E402

from sync_core import StateStore, load_workspace  # noqa: E402
from sync_core.destinations.iterable.events import event_id  # noqa: E402

SYNC = "iterable-first-namespace-events"
NO_LIMIT = ('rate_limits = { "events/trackBulk" = "100000/s", "users/bulkUpdate" = "100000/s", '
            '"export/data.json" = "100000/min" }')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=125_000)
    parser.add_argument("--edited", type=float, default=0.001, help="share of the sync's events edited in the sandbox")
    parser.add_argument("--workdir", help="keep the workspace here (default: a temporary folder, removed)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.workdir or tmp) / "bench-workspace"
        port = make_demo(root, args.contacts, NO_LIMIT)
        with Sandbox(root, port, rate_limits=False) as sandbox:
            run = measure(root, sandbox, "events sync run (full)", ["run", SYNC, "--json"])
            clean = measure(root, sandbox, "reconciliation, nothing changed", ["reconcile", SYNC, "--json"])
            with StateStore(load_workspace(root).state_path, read_only=True) as store:
                synced = {event_id(SYNC, key): key for key in store.snapshot_keys(SYNC)}
            edited = edit_events(sandbox, args.edited, synced)
            found = measure(root, sandbox, f"reconciliation, {len(edited):,} events edited",
                            ["reconcile", SYNC, "--json"])
        report(run, clean, found, edited)
    return 0


def edit_events(sandbox: Sandbox, share: float, synced: dict[str, str]) -> set[str]:
    """Change the plan of `share` of the sync's events directly in the sandbox's file, as someone editing them
    in Iterable would; returns the keys of their rows."""
    step = max(1, round(1 / share))
    chosen = sorted(synced)[::step]
    with sqlite3.connect(sandbox.state.path) as db:
        for eid in chosen:
            (fields,) = db.execute("SELECT data_fields FROM events WHERE id = ?", (eid,)).fetchone()
            db.execute("UPDATE events SET data_fields = ? WHERE id = ?",
                       (json.dumps({**json.loads(fields), "plan": "edited by hand"}), eid))
    return {synced[eid] for eid in chosen}


def report(run: dict, clean: dict, found: dict, edited: set[str]) -> None:
    funnel = clean["result"]["funnel"]
    differing = {d["key"] for d in found["result"]["differences"]}
    print_steps([run, clean, found])
    fields = len(clean["result"]["fields"])
    print(f"- synced events compared: {funnel['present']:,} present of {funnel['in_snapshot']:,} in the snapshot, "
          f"{fields} fields each; clean: {clean['result']['clean']}")
    print(f"- after the edits: {found['result']['differing_rows']:,} differing rows found, "
          f"{len(differing & edited):,} of the {len(edited):,} edited events")
    print(f"- reconciliation phases (s): {clean['result']['phases']}")
    print(f"- reconciliation / full sync run, wall time: **{clean['wall'] / run['wall']:.1%}**")
    print(f"- reconciliation / full sync run, API calls: **{clean['calls']} / {run['calls']:,}**")
    print(f"- reconciliation / full sync run, peak RSS: **{clean['rss_mb'] / run['rss_mb']:.0%}** "
          f"({clean['rss_mb']:,.0f} MB / {run['rss_mb']:,.0f} MB)")
    print(f"- reconciliation throughput: {funnel['present'] / clean['wall']:,.0f} events/s")


if __name__ == "__main__":
    sys.exit(main())
