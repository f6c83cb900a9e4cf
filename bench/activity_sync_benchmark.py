"""A whole Marketo custom activities sync, code versions side by side: each version (`--refs`: git refs, `.` this
working tree) runs the same sync in a process of its own, against a fresh Marketo sandbox served by this process
with its limits off and every email a lead, so the run is bound by its own work, not by Marketo's 100 calls per
20 s (bench/marketo_benchmark.py measures that). The versions take turns, round after round; printed: the sync
process's wall and CPU time (user + system, DuckDB's threads included), medians and the ratio.

    python bench/activity_sync_benchmark.py                         # 50,000 activities, main against this tree
    python bench/activity_sync_benchmark.py --rows 5000 --rounds 2  # a quick look

The model is the seed's activities sync (event_encoding_benchmark.ACTIVITY_MODEL: a namespace created, dated by
a TIMESTAMP column, with its plan, seats and trial as attributes), in the workspace's DuckDB source.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import duckdb

from bench_common import ROOT, add_refs_arguments, interleaved, load_average, measured, print_table
from event_encoding_benchmark import ACTIVITY_MAPPINGS, ACTIVITY_MODEL

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # workspace_toml: the tests' workspace.toml builder, standard library only
from sync_core.sandbox import MarketoSandbox  # noqa: E402
from workspace_toml import inline_source, marketo, model, sync, workspace  # noqa: E402

INSTANCE, CLIENT_ID, CLIENT_SECRET, TYPE = "123-ENC-456", "bench-client", "bench-secret", "benchActivity_c"
NO_LIMIT = 'rate_limits = { rest = "1000000/s" }'
# The child: one run of the sync, with the version's code on PYTHONPATH; it fails unless every row is synced.
RUN = ("import sys\nfrom sync_core import load_workspace, run_sync\n"
       "record = run_sync(load_workspace(sys.argv[1]), 'activities', trigger='bench')\n"
       "sys.exit(0 if record.counts.outcome('synced') == int(sys.argv[2]) else 1)\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000)
    add_refs_arguments(parser, rounds=3)
    args = parser.parse_args()
    os.environ["MARKETO_CLIENT_ID"], os.environ["MARKETO_CLIENT_SECRET"] = CLIENT_ID, CLIENT_SECRET  # the children's
    refs = args.refs.split(",")
    wall: dict[str, list[float]] = {ref: [] for ref in refs}
    cpu: dict[str, list[float]] = {ref: [] for ref in refs}
    load_before = os.getloadavg()
    for round_, ref, code, scratch in interleaved(refs, args.rounds, "activity-sync-bench-"):
        root = scratch / f"run-{round_}-{ref.replace('/', '_')}"
        root.mkdir()
        with duckdb.connect(str(root / "wh.duckdb")) as con:
            con.execute(f"CREATE TABLE people AS {ACTIVITY_MODEL.format(rows=args.rows)}")
            emails = [email for (email,) in con.execute("SELECT email FROM people").fetchall()]
        with MarketoSandbox(root / "sandbox.sqlite", port=0, rate_limits=False) as server:
            server.state.add_instance(INSTANCE, CLIENT_ID, CLIENT_SECRET, rate_limits=False)
            server.state.add_activity_type(INSTANCE, TYPE, primary_attribute="namespace",
                                           attributes=["plan", "seats", "trial"])
            server.state.add_leads(INSTANCE, emails)
            (root / "workspace.toml").write_text(workspace(
                inline_source(), marketo(base_url=server.url, extra=f"rate_limit_reserve = 0\n{NO_LIMIT}"),
                model("SELECT * FROM people", primary_key="k"),
                sync("activities", destination="marketo", object="activity", mode="insert", activity_type=TYPE,
                     mappings=list(ACTIVITY_MAPPINGS))))
            run = measured([sys.executable, "-c", RUN, str(root), str(args.rows)],
                           env={**os.environ, "PYTHONPATH": str(code)}, cwd=str(root))
        if run.code != 0:
            raise SystemExit(f"{ref}: the sync did not sync every row (exit {run.code})")
        wall[ref].append(run.wall)
        cpu[ref].append(run.cpu)
        print(f"round {round_} {ref}: wall {run.wall:.1f} s, CPU {run.cpu:.1f} s", flush=True)
    print(f"\nCommand: `python bench/activity_sync_benchmark.py {' '.join(sys.argv[1:])}`; {args.rows:,} activities, "
          f"{args.rounds} rounds; load average {' '.join(f'{x:.2f}' for x in load_before)} before, "
          f"{load_average()} after\n")
    medians = {ref: (statistics.median(wall[ref]), statistics.median(cpu[ref])) for ref in refs}
    print_table(["version", "wall s, median", "CPU s, median", "CPU s, each round"],
                [(ref, f"{medians[ref][0]:.1f}", f"{medians[ref][1]:.1f}", ", ".join(f"{t:.1f}" for t in cpu[ref]))
                 for ref in refs])
    if len(refs) == 2:
        base, this = refs
        print(f"\n- {this} / {base}: wall **{medians[this][0] / medians[base][0]:.2f}x**, "
              f"CPU **{medians[this][1] / medians[base][1]:.2f}x**")
    return 0


if __name__ == "__main__":
    sys.exit(main())
