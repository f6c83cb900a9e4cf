"""Iterable list removals cut into requests, code versions side by side: the run's leaving rows (keys gone from the
model, and members whose rows are invalid now) handed to `IterableLists.batches` in the runner's chunks of 2,000,
as the runner's `_removals` hands them over in each version (`--refs`: git refs, `.` this working tree), each
version in a process of its own, taking turns round after round. Printed: CPU seconds of the step (not of the
interpreter's start), medians, and the ratio.

    python bench/leaving_rows_benchmark.py                       # 200,000 leaving keys, main against this tree
    python bench/leaving_rows_benchmark.py --keys 20000 --rounds 2

A tenth of the members' identifiers are still named by the model (their keys leave with no call), the rest are
unsubscribed; no request is sent (the step measured ends with the cut requests).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import add_refs_arguments, interleaved, load_average, print_table

CHUNK = 2_000  # runner.SEND_CHUNK_ROWS


def child(keys: int, repeat: int) -> None:
    """In the version's code: the median CPU time of cutting `keys` leaving rows into requests."""
    import pyarrow as pa

    from sync_core import rows
    from sync_core.config import DestinationConfig, SyncConfig
    from sync_core.destinations.iterable.lists import IterableLists
    from sync_core.ratelimit import SharedRateLimits
    from sync_core.schedules import Schedule
    from sync_core.secrets import SecretRef

    config = DestinationConfig("iterable", "iterable", "http://127.0.0.1:9", SecretRef("env", "K", "ws.toml", "k"))
    sync = SyncConfig("s", "S", "m", "iterable", "list", "update", "email", "email", (), Schedule("manual"), (),
                      options={"list_id": "1"})
    with tempfile.TemporaryDirectory() as tmp:
        lists = IterableLists(config, sync, "key", SharedRateLimits(Path(tmp) / "limits.sqlite", "bench", {}))
        names = [f"k{i}" for i in range(keys)]
        lists.track_members({k: f"p{i}@x.io" for i, k in enumerate(names)},
                            pa.array([f"p{i}@x.io" for i in range(0, keys, 10)]))
        removed, withdrawn = names[:keys - keys // 100], names[keys - keys // 100:]
        times, requests = [], 0
        for _ in range(repeat):
            started = time.process_time()
            if hasattr(rows, "leaving_rows"):  # RowColumns of keys
                leaving = rows.leaving_rows(removed + withdrawn,
                                            ["removed"] * len(removed) + ["withdrawn"] * len(withdrawn))
                requests = sum(len(lists.batches(leaving[s:s + CHUNK])) for s in range(0, keys, CHUNK))
            else:  # a PlannedRow per key
                pairs = [(k, "removed") for k in removed] + [(k, "withdrawn") for k in withdrawn]
                requests = sum(len(lists.batches([rows.PlannedRow(k, op, "", None, {})
                                                  for k, op in pairs[s:s + CHUNK]])) for s in range(0, keys, CHUNK))
            times.append(time.process_time() - started)
    print(json.dumps({"cpu": statistics.median(times), "requests": requests}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3, help="times each process cuts them (its median is kept)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    add_refs_arguments(parser, rounds=3)
    args = parser.parse_args()
    if args.child:
        child(args.keys, args.repeat)
        return 0
    refs = args.refs.split(",")
    cpu: dict[str, list[float]] = {ref: [] for ref in refs}
    requests: dict[str, int] = {}
    load_before = os.getloadavg()
    for round_, ref, code, _ in interleaved(refs, args.rounds, "leaving-bench-"):
        done = subprocess.run([sys.executable, __file__, "--child", "--keys", str(args.keys), "--repeat",
                               str(args.repeat)], env={**os.environ, "PYTHONPATH": str(code)}, check=True,
                              capture_output=True, text=True)
        figures = json.loads(done.stdout)
        cpu[ref].append(figures["cpu"])
        requests[ref] = figures["requests"]
        print(f"round {round_} {ref}: CPU {figures['cpu']:.2f} s, {figures['requests']} requests", flush=True)
    print(f"\nCommand: `python bench/leaving_rows_benchmark.py {' '.join(sys.argv[1:])}`; {args.keys:,} leaving keys; "
          f"load average {' '.join(f'{x:.2f}' for x in load_before)} before, {load_average()} after\n")
    medians = {ref: statistics.median(v) for ref, v in cpu.items()}
    print_table(["version", "CPU s, median", "CPU s, each round", "requests"],
                [(ref, f"{medians[ref]:.2f}", ", ".join(f"{t:.2f}" for t in cpu[ref]), requests[ref]) for ref in refs])
    if len(refs) == 2:
        base, this = refs
        print(f"\n- {this} / {base}: CPU **{medians[this] / medians[base]:.2f}x**")
    return 0


if __name__ == "__main__":
    sys.exit(main())
