"""The state writes of a first full sync, alone: this checkout against another, side by side in one run.

    python bench/state_writes.py --rows 100000 --repeat 3 --baseline /tmp/base
    python bench/state_writes.py --rows 1000000 --repeat 1 --baseline /tmp/base

What a run of N rows writes to the state store besides the network's part: N confirmed rows in batches of 1,000,
each with its progress write as the checkout's RunContext.commit makes it (in the batch's own transaction where
the checkout has `RunProgress`, else a transaction after it), then the MQR ledger's three
writes of N sorted digests (record_queried, record_sync_queried, mark_held; the planner gives them sorted). Each
measurement is a fresh process on a fresh store, the checkouts interleaved (A B A B ...), so a busy machine
slows both alike; the figures are medians of each part's wall and CPU seconds (on a busy machine the wall
time is mostly waiting for a core: read the CPU time) and their ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BATCH = 1_000

# Runs in the measured process, with the checkout under test first on sys.path.
WRITES = """
import hashlib, json, random, sys, time
from pathlib import Path
import pyarrow as pa
from sync_core.counts import RunCounts
from sync_core.state.store import StateStore
try:
    from sync_core.state.run_log import RunProgress
except ImportError:  # a checkout that writes the progress in a transaction of its own
    RunProgress = None

rows, batch, folder = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
keys = [f"contact{i}@example.com" for i in range(rows)]
hashes = [hashlib.blake2b(k.encode(), digest_size=8).hexdigest() for k in keys]
random.seed(rows)
digests = pa.array(sorted(random.getrandbits(63) for _ in range(rows)), pa.int64())
store = StateStore(folder / "state.sqlite")
run = store.start_run("s", trigger="bench", config_fingerprint="f")
counts = RunCounts()
started, cpu = time.perf_counter(), time.process_time()
for start in range(0, rows, batch):
    synced = list(zip(keys[start:start + batch], hashes[start:start + batch]))
    if RunProgress is None:
        store.commit_batch(run, "s", fingerprint="f", synced=synced)
        store.save_progress(run, counts, {}, [])
    else:
        store.commit_batch(run, "s", fingerprint="f", synced=synced, progress=RunProgress(counts, {}, []))
snapshot, snapshot_cpu = time.perf_counter() - started, time.process_time() - cpu
started, cpu = time.perf_counter(), time.process_time()
period = "2026-12-01"
store.record_queried(period, "users", digests, run, store.mqr_digests(period, "users"), sync_id="s")
store.record_sync_queried(period, "s", digests, store.sync_keys(period, "s"))
store.mark_held(period, "s", digests, store.sync_keys(period, "s"))
mqr, mqr_cpu = time.perf_counter() - started, time.process_time() - cpu
held = store.mqr_by_sync(period)[0].held
store.close()
assert held == rows, f"{held} of {rows} digests marked held"
print(json.dumps({"snapshot": snapshot, "mqr": mqr, "snapshot_cpu": snapshot_cpu, "mqr_cpu": mqr_cpu}))
"""


def measure(checkout: Path, rows: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="state-writes-") as folder:
        env = {**os.environ, "PYTHONPATH": str(checkout)}
        done = subprocess.run([sys.executable, "-c", WRITES, str(rows), str(BATCH), folder], env=env,
                              capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the state writes at {checkout} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def commit(checkout: Path) -> str:
    return subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip() or "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", required=True, type=Path,
                        help="the other checkout (e.g. `git worktree add /tmp/base main`)")
    args = parser.parse_args()
    checkouts = {f"this ({commit(REPO)})": REPO, f"baseline ({commit(args.baseline)})": args.baseline.resolve()}
    print(f"Load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in checkouts}
    for _ in range(args.repeat):
        for name, checkout in checkouts.items():
            runs[name].append(measure(checkout, args.rows))
            print(f"  {name}: " + ", ".join(f"{part} {s:.2f} s" for part, s in runs[name][-1].items()), flush=True)
    print(f"Load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print(f"## State writes of a first full sync: {args.rows:,} rows, medians of {args.repeat}\n")
    print("| checkout | snapshot + progress: wall s | CPU s | MQR ledger: wall s | CPU s |\n|---|---:|---:|---:|---:|")
    parts = ("snapshot", "snapshot_cpu", "mqr", "mqr_cpu")
    medians = {}
    for name, measured in runs.items():
        medians[name] = {part: statistics.median(m[part] for m in measured) for part in parts}
        print(f"| {name} | " + " | ".join(f"{medians[name][part]:.2f}" for part in parts) + " |")
    ours, theirs = medians.values()
    print("\n- this / baseline (below 1: faster): " + ", ".join(
        f"{part.replace('_cpu', ' CPU').replace('snapshot', 'snapshot + progress').replace('mqr', 'MQR ledger')}"
        f" **{ours[part] / theirs[part]:.2f}x**" for part in parts))


if __name__ == "__main__":
    main()
