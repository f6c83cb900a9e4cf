"""The rerun floor (#17 item 4), checkouts side by side: reruns of the seed's update-only user sync with nothing
changed and after 1% changed, as multiples of the model's own query time, interleaved, medians.

    python bench/rerun_floor.py --baseline /tmp/rerun-base                  # 1,000,000 contacts
    python bench/rerun_floor.py --baseline /tmp/rerun-base --bounds 512MB,1GB --contacts 20000

`--baseline`: another checkout (e.g. `git worktree add --detach /tmp/rerun-base main`), run from its own folder
with PYTHONPATH set to it. `--bounds`: also run this checkout with the planner's DuckDB memory bound
(`planner.MEMORY_LIMIT`) set to each of these, to see what the bound costs. The workspace is
`bench/sync_benchmark.py`'s, its sandbox's limits and the client's off; a full run and one rerun come first, so the
reruns measured export only the day's changes. Wall time moves a lot on a loaded machine: compare the CPU medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from bench_common import ROOT, load_average, measured, print_table
from sync_benchmark import NO_LIMIT, SYNC, Sandbox, build_demo, change_contacts, model_query_seconds, set_iterable

BOUND = ("import sys; import sync_core.planner as planner; planner.MEMORY_LIMIT = sys.argv.pop(1); "
         "from sync_core.cli import main; sys.exit(main(sys.argv[1:]))")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--baseline", help="another checkout, run interleaved with this one")
    parser.add_argument("--bounds", default="", help="comma-separated planner memory bounds to run this checkout at")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of reruns with nothing changed")
    parser.add_argument("--changed-rounds", type=int, default=2, help="interleaved rounds of reruns after 1%% changed")
    parser.add_argument("--workdir", help="keep the workspace here (default: a temporary folder, removed)")
    args = parser.parse_args()
    variants = {"this checkout": (ROOT, ["-m", "sync_core.cli"])}
    if args.baseline:
        variants["baseline " + Path(args.baseline).name] = (Path(args.baseline).resolve(), ["-m", "sync_core.cli"])
    for bound in filter(None, args.bounds.split(",")):
        variants[f"this checkout, planner bound {bound}"] = (ROOT, ["-c", BOUND, bound])
    with tempfile.TemporaryDirectory() as tmp:
        root, port = build_demo(argparse.Namespace(contacts=args.contacts, workdir=args.workdir), tmp,
                                product_share=0.5)
        set_iterable(root, NO_LIMIT)
        with Sandbox(root, port, rate_limits=False):
            first = load_average()
            for label in ("full run", "first rerun"):  # not measured: the first rerun exports every user touched
                run(root, *variants["this checkout"], label)
            runs = {(kind, name): [] for kind in ("nothing changed", "1% changed") for name in variants}
            for _ in range(args.rounds):
                for name, variant in variants.items():
                    runs[("nothing changed", name)].append(run(root, *variant, name))
            query = model_query_seconds(root)
            for i in range(args.changed_rounds):
                for j, (name, variant) in enumerate(variants.items()):
                    change_contacts(root, 0.01, seed=1000 + i * len(variants) + j)
                    runs[("1% changed", name)].append(run(root, *variant, name))
    print(f"\n## The rerun floor: {args.contacts:,} contacts\n")
    print(f"Command: `python bench/rerun_floor.py {' '.join(sys.argv[1:])}`; {first} before the reruns, "
          f"{load_average()} at the end\n")
    print_table(["rerun", "checkout", "wall s, median", "x the model's query", "CPU s, median", "peak RSS", "wall s, each"],
                [[kind, name, f"{statistics.median(w for w, _, _ in ms):.1f}",
                  f"{statistics.median(w for w, _, _ in ms) / query:.2f}x", f"{statistics.median(c for _, c, _ in ms):.1f}",
                  f"{max(p for _, _, p in ms):,.0f} MB", ", ".join(f"{w:.1f}" for w, _, _ in ms)]
                 for (kind, name), ms in runs.items() if ms], left=2)
    print(f"\n- the model's own query (its SQL alone, by the source, into Arrow; median of 3): {query:.2f} s; "
          "targets: nothing changed 2x, 1% changed 2.5x")
    return 0


def run(root: Path, checkout: Path, command: list[str], label: str) -> tuple[float, float, float]:
    """One `sync-core run` of the sync by `checkout`'s code in a process of its own: (wall s, CPU s, peak MB)."""
    m = measured([sys.executable, *command, "-w", str(root), "run", SYNC, "--json"], capture_output=True,
                 cwd=str(checkout), env={"PYTHONPATH": str(checkout), "PATH": "/usr/bin:/bin"})
    try:
        record = json.loads(m.stdout)
    except ValueError:
        raise SystemExit(f"{label}: failed (exit {m.code}):\n{m.stderr.decode()[-3000:]}") from None
    print(f"{label}: {m.wall:.1f} s, CPU {m.cpu:.1f} s, peak {m.peak_mb:,.0f} MB, planned "
          f"{record['counts']['planned']:,}, phases {record['phases']}; {load_average()}", flush=True)
    return m.wall, m.cpu, m.peak_mb


if __name__ == "__main__":
    sys.exit(main())
