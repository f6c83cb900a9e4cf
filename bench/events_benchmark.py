"""The events benchmark: the seed's update-only events sync (iterable-first-namespace-events) under Iterable's
real trackBulk limit, enforced by the sandbox in its own process and kept by the client.

    python bench/events_benchmark.py                    # 250,000 contacts: about 200,000 model rows
    python bench/events_benchmark.py --contacts 5000    # a quick look

Runs, side by side in one benchmark run: a full run (every event sent), a rerun after 1% of the namespaces
changed, and a full resync (every event sent again, updating the same ids), all with the events' default of 4
requests in flight; then the full resync again with 2 in flight (`concurrency = 2`, the users' default).
Prints trackBulk's throughput as a share of its 10 req/s and the API calls per 1,000 model rows, ready for
docs/benchmarks.md.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import duckdb

from bench_common import load_average, print_table
from sync_benchmark import Run, Sandbox, arguments, build_demo, measure, set_iterable
from sync_core.demo.workspace import SANDBOX_PROJECT

SYNC = "iterable-first-namespace-events"
WRITE = "events/trackBulk"
VENDOR_LIMIT = 10.0  # trackBulk requests per second


def main() -> int:
    args = arguments(__doc__, contacts=250_000)
    with tempfile.TemporaryDirectory() as tmp:
        root, port = build_demo(args, tmp, product_share=0.9)
        with Sandbox(root, port, rate_limits=True) as sandbox:
            runs = [measure(root, sandbox, "full run, real limit", sync=SYNC, write_endpoint=WRITE)]
            change_namespaces(root, args.changed)
            runs.append(measure(root, sandbox, f"rerun after {args.changed:.0%} changed", sync=SYNC,
                                write_endpoint=WRITE))
            runs.append(measure(root, sandbox, "full resync", "--full-resync", sync=SYNC, write_endpoint=WRITE))
            set_iterable(root, "concurrency = 2")  # requests in flight
            runs.append(measure(root, sandbox, "full resync, concurrency = 2", "--full-resync", sync=SYNC,
                                write_endpoint=WRITE))
            held = sandbox.state.event_count(SANDBOX_PROJECT)
        report(args, runs, held)
    return 0


def change_namespaces(root: Path, share: float) -> None:
    """Change the plan of `share` of the namespaces, as a day of upgrades would."""
    with duckdb.connect(str(root / "warehouse.duckdb")) as con:
        con.execute("UPDATE namespaces SET plan = CASE plan WHEN 'free' THEN 'team' ELSE 'free' END "
                    "WHERE (hash(namespace_id) % 10000) < ?", [int(share * 10000)])


def report(args, runs: list[Run], held: int) -> None:
    queried = runs[0].record["counts"]["queried"]
    print()
    print(f"## Events benchmark: {queried:,} model rows ({args.contacts:,} contacts), trackBulk at Iterable's "
          f"{VENDOR_LIMIT:g} req/s")
    print()
    print(f"Command: `python bench/events_benchmark.py --contacts {args.contacts}`; {load_average()} at the end")
    print()
    print_table(["run", "wall s", "synced", "expected rejections", "trackBulk requests", "trackBulk req/s",
                 "share of 10 req/s", "API calls / 1,000 rows", "phases"],
                [[r.label, f"{r.wall:.1f}", f"{r.record['counts']['synced']:,}",
                  f"{r.record['counts']['rejected_expected']:,}", r.writes, f"{r.write_rate:.2f}",
                  f"{r.write_rate / VENDOR_LIMIT:.0%}", f"{1000 * r.requests / queried:.2f}",
                  ", ".join(f"{k} {v:.1f} s" for k, v in r.record["phases"].items())] for r in runs])
    print()
    print(f"- events the sandbox holds after the four runs: {held:,} (one per synced key: resends updated them)")


if __name__ == "__main__":
    sys.exit(main())
