"""Retention of MQR keys at a year's scale: what pruning a closed billing period's keys costs the worker, on the
store bench/mqr_speed.py generates (1,500,000 keys a period over 12 periods, reused from its --workdir).

    python bench/mqr_retention.py                              # the oldest period of the 1.5M x 12 store
    python bench/mqr_retention.py --keys 100000 --periods 3    # a quick look

The state directory is copied first (the generated store stays as it was). Then the oldest period's keys are
pruned the way the worker does, one slice (worker.MQR_PRUNE_ROWS_PER_TICK rows) per call until none are left.
Printed: each slice's time against the worker's schedule check (SCHEDULE_EVERY, the time between two slices),
the longest single write transaction (what a run's commit may wait for), the pruned period's report before and
after (it must not change), and the pages SQLite freed for later periods.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from mqr_speed import generate  # noqa: E402
from sync_core import StateStore, load_workspace  # noqa: E402
from sync_core.mqr_report import mqr_report  # noqa: E402
from sync_core.state.mqr_ledger import PRUNE_CHUNK  # noqa: E402
from sync_core.worker import MQR_PRUNE_ROWS_PER_TICK, SCHEDULE_EVERY  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=1_500_000)
    parser.add_argument("--periods", type=int, default=12)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "sync-core-mqr-speed")
    args = parser.parse_args()
    source = generate(args.workdir, args.keys, args.periods)
    with tempfile.TemporaryDirectory(prefix="mqr-retention-") as tmp:
        root = Path(tmp) / "ws"
        shutil.copytree(source, root)
        workspace = load_workspace(root)
        with StateStore(workspace.state_path) as store:
            oldest = store.mqr_periods_with_keys()[0]
            day = date.fromisoformat(oldest)
            before = mqr_report(workspace, store, day).to_json()
            rows = sum(store._select(f"SELECT COUNT(*) FROM {t} WHERE period_start = ?", (oldest,))[0][0]
                       for t in ("mqr_ledger", "mqr_sync_keys"))
            print(f"Period {oldest}: {rows:,} keys (ledger and syncs'); slices of {MQR_PRUNE_ROWS_PER_TICK:,} rows "
                  f"in transactions of {PRUNE_CHUNK:,}", flush=True)
            slices, deleted = [], 0
            while True:
                started = time.perf_counter()
                n = store.prune_period_keys(oldest, MQR_PRUNE_ROWS_PER_TICK)
                slices.append(time.perf_counter() - started)
                deleted += n
                if not n:
                    break
            started = time.perf_counter()
            store.prune_period_keys(store.mqr_periods_with_keys()[0], PRUNE_CHUNK)
            chunk = time.perf_counter() - started
            after = mqr_report(workspace, store, day).to_json()
            free = store._select("PRAGMA freelist_count")[0][0] * store._select("PRAGMA page_size")[0][0]
        full = sorted(slices[:-1])
        p95 = full[min(len(full) - 1, int(0.95 * len(full)))]
        print(f"deleted {deleted:,} rows in {len(full)} slices: median {statistics.median(full):.2f} s, p95 {p95:.2f} s, "
              f"max {full[-1]:.2f} s; a slice every {SCHEDULE_EVERY:.0f} s is {statistics.median(full) / SCHEDULE_EVERY:.1%} "
              f"of the worker's time (max {full[-1] / SCHEDULE_EVERY:.1%})")
        print(f"one write transaction of {PRUNE_CHUNK:,} rows: {chunk:.3f} s")
        print(f"the period's report unchanged: {before == after}; freed for later periods: {free / 2**20:,.0f} MiB; "
              f"a year's {args.periods - 1} closed periods take about {len(full) * (args.periods - 1)} slices, "
              f"{len(full) * (args.periods - 1) * SCHEDULE_EVERY / 60:.0f} minutes of the worker's checks")


if __name__ == "__main__":
    main()
