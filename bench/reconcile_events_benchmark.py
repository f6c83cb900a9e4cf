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

import json
import sqlite3
import sys
from pathlib import Path

from reconcile_benchmark import arguments, print_ratios, print_steps, side_by_side  # the same flow and table
from sync_benchmark import Sandbox
from sync_core import StateStore, load_workspace
from sync_core.destinations.iterable.events import event_id

SYNC = "iterable-first-namespace-events"
NO_LIMIT = ('rate_limits = { "events/trackBulk" = "100000/s", "users/bulkUpdate" = "100000/s", '
            '"export/data.json" = "100000/min" }')


def main() -> int:
    args = arguments(__doc__, contacts=125_000, edited="share of the sync's events edited in the sandbox")

    def edit(root: Path, sandbox: Sandbox) -> set[str]:
        with StateStore(load_workspace(root).state_path, read_only=True) as store:
            synced = {event_id(SYNC, key): key for key in store.snapshot_keys(SYNC)}
        return edit_events(sandbox, args.edited, synced)
    side_by_side(args, SYNC, NO_LIMIT, "events sync run (full)", "events", edit, report)
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


def report(root: Path, run: dict, clean: dict, found: dict, edited: set[str]) -> None:
    funnel = clean["result"]["funnel"]
    differing = {d["key"] for d in found["result"]["differences"]}
    print_steps([run, clean, found])
    fields = len(clean["result"]["fields"])
    print(f"- synced events compared: {funnel['present']:,} present of {funnel['in_snapshot']:,} in the snapshot, "
          f"{fields} fields each; clean: {clean['result']['clean']}")
    print(f"- after the edits: {found['result']['differing_rows']:,} differing rows found, "
          f"{len(differing & edited):,} of the {len(edited):,} edited events")
    print_ratios(run, clean, "events")


if __name__ == "__main__":
    sys.exit(main())
