"""MQR at a year's scale: `sync-core mqr --json` and the MQR and Overview pages on a ledger of 1,500,000 keys a
period over 12 periods.

    python bench/mqr_speed.py                          # 1.5M keys a period, 12 periods, 5 runs each
    python bench/mqr_speed.py --keys 100000 --periods 3 --runs 2   # a quick look

The state store is written through the StateStore's own API, as runs write it: for each of 12 monthly periods,
two syncs of one entity (the seed's contacts sync queries every key, the namespace sync 80% of them), a run per
sync and day up to today; each period's first run counts its keys in the ledger and in the sync's own keys, later
runs the day's new keys (0.1% a day); 60% of a sync's keys are held by the destination, the rest never are (the update-only
not-found rows). The store is kept in --workdir and reused while the parameters are the same.

Printed: the median and the slowest of --runs timings of `mqr --json` (a process, as a user runs it) and of each
page's script in AppTest with Streamlit's data cache cleared, and the ledger's size on disk.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from bench_common import ROOT, generated_once
from page_speed import time_page  # the same cold page run

sys.path.insert(0, str(ROOT))
from sync_core import RunCounts, StateStore  # noqa: E402
from sync_core.clock import ManualClock  # noqa: E402
from sync_core.mqr import period_end  # noqa: E402

SYNCS = (("iterable-production", 1.0), ("iterable-first-namespace", 0.8))  # (sync, share of the keys it queries)
NEW_PER_DAY = 0.001
HELD_SHARE = 0.6
PAGES = (("MQR", "pages/mqr.py"), ("Overview", "pages/overview.py"))


def generate(workdir: Path, keys: int, periods: int) -> Path:
    """A demo workspace (for its workspace.toml) whose state store holds the periods' ledger; reused if present."""
    return generated_once(workdir / f"mqr-{keys}-{periods}", {"keys": keys, "periods": periods},
                          lambda root: write_ledger(root, keys, periods))


def write_ledger(root: Path, keys: int, periods: int) -> None:
    today = datetime.now(timezone.utc).date()
    months = today.year * 12 + today.month - 1 - (periods - 1)  # the 12 periods ending with today's
    first = date(months // 12, months % 12 + 1, 1)
    clock = ManualClock(datetime(first.year, first.month, 1, 2, tzinfo=timezone.utc).timestamp())
    started = time.monotonic()
    with StateStore(root / ".sync-state" / "state.sqlite", clock=clock) as store:
        start = first
        for number in range(periods):
            end = period_end(start, 1)
            _period(store, clock, start, min(end, today + timedelta(days=1)), keys, offset=number * 10 * keys)
            print(f"  period {start} written ({time.monotonic() - started:.0f} s)", flush=True)
            start = end


def _period(store: StateStore, clock: ManualClock, start: date, end: date, keys: int, offset: int) -> None:
    period = start.isoformat()
    days = (end - start).days
    base = keys - int(keys * NEW_PER_DAY) * 30  # the period's first day, then new keys each day
    for day in range(days):
        clock.advance(datetime(start.year, start.month, start.day, 2, tzinfo=timezone.utc).timestamp()
                      + day * 86_400 - clock.now())
        upto = base + day * int(keys * NEW_PER_DAY)
        lo = 0 if day == 0 else upto - int(keys * NEW_PER_DAY)
        for sync_id, share in SYNCS:
            run_id = store.start_run(sync_id, trigger="schedule", config_fingerprint="bench")
            digests = [offset + k for k in range(lo, upto) if (k % 10) < share * 10]
            counted = store.mqr_digests(period, "person")
            added = store.record_queried(period, "person", digests, run_id, counted, sync_id=sync_id)
            seen = store.sync_keys(period, sync_id)
            store.record_sync_queried(period, sync_id, digests, seen)
            seen = store.sync_keys(period, sync_id)
            store.mark_held(period, sync_id, [d for d in digests if (d % 10) < HELD_SHARE * 10], seen)
            store.set_mqr_new(run_id, added)
            counts = RunCounts(queried=len(digests))
            store.finish_run(run_id, status="warning", counts=counts, phases={"query": 1.0}, notes=[])
            clock.advance(300)


def time_cli(root: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "sync_core.cli", "-w", str(root), "mqr", "--json"],
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(done.stderr)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=1_500_000)
    parser.add_argument("--periods", type=int, default=12)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "sync-core-mqr-speed")
    args = parser.parse_args()
    print(f"Ledger: {args.keys:,} keys a period over {args.periods} periods, in {args.workdir}", flush=True)
    root = generate(args.workdir, args.keys, args.periods)
    state = root / ".sync-state" / "state.sqlite"
    with sqlite3.connect(state) as db:
        rows = {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("mqr_ledger", "mqr_sync_keys", "runs")}
    print("  " + ", ".join(f"{t} {n:,}" for t, n in rows.items()) + f"; {state.stat().st_size / 2**20:,.0f} MiB "
          "on disk", flush=True)
    os.environ["SYNC_CORE_WORKSPACE"] = str(root)
    time_cli(root)  # imports and the OS file cache, not measured
    cli = [time_cli(root) for _ in range(args.runs)]
    print(f"| `mqr --json` (a process) | {statistics.median(cli):.3f} | {max(cli):.3f} |", flush=True)
    for title, page in PAGES:
        time_page(root, page, {}, title, cold=True)  # imports, not measured
        seconds = [time_page(root, page, {}, title, cold=True) for _ in range(args.runs)]
        print(f"| {title} page, cold | {statistics.median(seconds):.3f} | {max(seconds):.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
