"""A run's end: the next run's copy of the key state built from a run's changes, versions side by side.

    python bench/key_state_apply.py --refs 644c5cb,. --rounds 3
    python bench/key_state_apply.py --refs 644c5cb,. --keys 200000 --rejected 100000 --bound 8MB

What a first full sync of N rows leaves (`KeyStateChanges.apply`): N confirmed keys in batches of 1,000, plus
M keys refused (an update-only sync's not-found rows), applied to an empty copy under the checkout's DuckDB bound
(or --bound), the result read to the end. Each measurement is a process of its own, the versions interleaved;
medians of wall and CPU seconds, and whether a copy was made (a failure leaves the next run to read SQLite).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from bench_common import add_refs_arguments, interleaved, load_average, print_table

# Runs in the measured process, with the checkout under test first on sys.path.
APPLY = """
import json, sys, tempfile, time
from pathlib import Path
from sync_core.state import key_state as ks
keys, rejected, bound = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
if bound:
    ks.MEMORY_LIMIT = bound
folder = Path(tempfile.mkdtemp())
changes = ks.KeyStateChanges(folder / "spool")
for start in range(0, keys, 1000):
    changes.synced((f"user{i:09d}@example.com", f"{i:032x}") for i in range(start, min(keys, start + 1000)))
for start in range(0, rejected, 1000):
    changes.rejected((f"unknown{i:09d}@example.com", f"{i:032x}", 1) for i in range(start, min(rejected, start + 1000)))
rows = {}
wall, cpu = time.perf_counter(), time.process_time()
made = changes.apply(ks.SNAPSHOT_SCHEMA.empty_table(), ks.REJECTION_SCHEMA.empty_table(),
                     lambda part, batches: rows.setdefault(part, sum(b.num_rows for b in batches)),
                     spill=folder / "spill")
print(json.dumps({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "made": made, "rows": rows}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_refs_arguments(parser, rounds=3)
    parser.add_argument("--keys", type=int, default=1_000_000, help="keys the run confirmed")
    parser.add_argument("--rejected", type=int, default=500_000, help="keys the run refused")
    parser.add_argument("--bound", default="", help="DuckDB's memory bound for the application (default: the checkout's)")
    args = parser.parse_args()
    refs = args.refs.split(",")
    results: dict[str, list[dict]] = {ref: [] for ref in refs}
    print(f"{args.keys:,} confirmed and {args.rejected:,} refused keys, bound {args.bound or 'as checked out'}; "
          f"{load_average()}")
    for round_, ref, code, scratch in interleaved(refs, args.rounds, "key-state-apply-"):
        # From the scratch folder: `python -c` puts the current folder first on sys.path, before PYTHONPATH
        done = subprocess.run([sys.executable, "-c", APPLY, str(args.keys), str(args.rejected), args.bound],
                              capture_output=True, text=True, env={"PYTHONPATH": str(code), "PATH": ""}, cwd=scratch)
        if done.returncode != 0:
            raise SystemExit(f"{ref}: {done.stderr[-2000:]}")
        result = json.loads(done.stdout)
        results[ref].append(result)
        print(f"  round {round_}, {ref}: {result['wall']:.2f} s wall, {result['cpu']:.2f} s CPU, "
              f"copy {'made' if result['made'] else 'NOT made'}", flush=True)
    print()
    print_table(["version", "wall s, median", "CPU s, median", "copies made"],
                [[ref, f"{statistics.median(r['wall'] for r in rs):.2f}", f"{statistics.median(r['cpu'] for r in rs):.2f}",
                  f"{sum(r['made'] for r in rs)} of {len(rs)}"] for ref, rs in results.items()])
    print(f"\n{load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
