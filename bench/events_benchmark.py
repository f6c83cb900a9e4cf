"""The events benchmark: the seed's update-only events sync (iterable-first-namespace-events) under Iterable's
real trackBulk limit, enforced by the sandbox in its own process and kept by the client.

    python bench/events_benchmark.py                    # 250,000 contacts: about 200,000 model rows
    python bench/events_benchmark.py --contacts 5000    # a quick look
    python bench/events_benchmark.py --contacts 50000 --baseline /tmp/ev-base   # and another checkout

Runs, side by side in one benchmark run: a full run (every event sent), a rerun after 1% of the namespaces
changed, and a full resync (every event sent again, updating the same ids), all with the events' default of 4
requests in flight; then the full resync again with 2 in flight (`concurrency = 2`, the users' default).
Prints trackBulk's throughput as a share of its 10 req/s, the API calls per 1,000 model rows and each run's CPU
time, ready for docs/benchmarks.md. With `--baseline DIR` (e.g. `git worktree add /tmp/ev-base main`), then full
resyncs by this checkout and by that one, interleaved `--repeat` times on the same workspace, and the medians of
their CPU times (the figure a busy machine leaves readable) and their ratio.
"""

from __future__ import annotations

import os
import statistics
import subprocess
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
    args = arguments(__doc__, contacts=250_000, baseline=True)
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
            load = os.getloadavg()
            compared = side_by_side(root, sandbox, args.baseline, args.repeat) if args.baseline else []
        report(args, runs, held)
        if compared:
            report_side_by_side(args, compared, load, os.getloadavg())
    return 0


def side_by_side(root: Path, sandbox: Sandbox, baseline: str, repeat: int) -> list[tuple[Run, Run]]:
    """Full resyncs by this checkout and by `baseline`, interleaved (each round starts with the other one)."""
    theirs = {**os.environ, "PYTHONPATH": str(Path(baseline).resolve())}
    rounds = []
    for i in range(repeat):
        order = [("this", None), ("baseline", theirs)][::1 if i % 2 == 0 else -1]
        got = {label: measure(root, sandbox, f"full resync, {label}", "--full-resync", sync=SYNC,
                              write_endpoint=WRITE, env=env) for label, env in order}
        rounds.append((got["this"], got["baseline"]))
    return rounds


def commit(checkout: str) -> str:
    return subprocess.run(["git", "-C", checkout, "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip() or "?"


def report_side_by_side(args, rounds: list[tuple[Run, Run]], load_before, load_after) -> None:
    here, there = ([r[i] for r in rounds] for i in (0, 1))
    cpu = [statistics.median(r.cpu for r in runs) for runs in (here, there)]
    wall = [statistics.median(r.wall for r in runs) for runs in (here, there)]
    print()
    print(f"### Full resync, this checkout ({commit('.')}) against {args.baseline} ({commit(args.baseline)}), "
          f"{len(rounds)} interleaved rounds")
    print()
    print(f"Command: `python bench/events_benchmark.py --contacts {args.contacts} --baseline {args.baseline} "
          f"--repeat {args.repeat}`; load average {' '.join(f'{x:.2f}' for x in load_before)} before and "
          f"{' '.join(f'{x:.2f}' for x in load_after)} after")
    print()
    print("| checkout | CPU s, median | wall s, median | CPU s, each run | synced | trackBulk requests |")
    print("|---|---:|---:|---|---:|---:|")
    for label, runs, c, w in (("this", here, cpu[0], wall[0]), ("baseline", there, cpu[1], wall[1])):
        print(f"| {label} | {c:.2f} | {w:.1f} | {', '.join(f'{r.cpu:.2f}' for r in runs)} "
              f"| {runs[0].record['counts']['synced']:,} | {runs[0].writes} |")
    print()
    print(f"- this / baseline: CPU **{cpu[0] / cpu[1]:.2f}x**, wall {wall[0] / wall[1]:.2f}x (wall is bound by "
          f"trackBulk's {VENDOR_LIMIT:g} req/s)")


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
    print_table(["run", "wall s", "CPU s", "synced", "expected rejections", "trackBulk requests", "trackBulk req/s",
                 "share of 10 req/s", "API calls / 1,000 rows", "phases"],
                [[r.label, f"{r.wall:.1f}", f"{r.cpu:.2f}", f"{r.record['counts']['synced']:,}",
                  f"{r.record['counts']['rejected_expected']:,}", r.writes, f"{r.write_rate:.2f}",
                  f"{r.write_rate / VENDOR_LIMIT:.0%}", f"{1000 * r.requests / queried:.2f}",
                  ", ".join(f"{k} {v:.1f} s" for k, v in r.record["phases"].items())] for r in runs])
    print()
    print(f"- events the sandbox holds after the four runs: {held:,} (one per synced key: resends updated them)")


if __name__ == "__main__":
    sys.exit(main())
