"""The sync benchmark: the seed's update-only user sync (Iterable-Production) on a large demo warehouse.

    python bench/sync_benchmark.py                      # 1,000,000 contacts (about 15 minutes here)
    python bench/sync_benchmark.py --contacts 20000     # a quick look

The Iterable sandbox runs in a separate process. About half of the contacts are unknown to it. Phases:
  1. limit off: a full run, then a rerun after 1% of the contacts changed (client and sandbox rate limits off)
     and a rerun with nothing changed: the floor of any rerun (the model's query, hashing, the diff, no write)
  2. Iterable's real limit (bulkUpdate 5 req/s, export 4 req/min, enforced by the sandbox and kept by the
     client): a full resync, then a rerun after another 1% changed
It prints one table of figures measured in this run, ready for docs/benchmarks.md, and the reruns' wall times
as multiples of the model's own query time: the model's SQL run alone by the same source (the workspace's
DuckDB source, `Source.batches`) into Arrow, every row read, in a process of its own, timed from the query's
start to its last batch (what any tool that reads the model pays; no interpreter start, no hash, no diff).
Targets (#17 item 4): a rerun with nothing changed within 2x of it, a rerun after 1% changed within 2.5x.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from bench_common import free_port, load_average, measured, print_table, stop, wait_for_http
from sync_core import load_workspace
from sync_core.demo.workspace import init_demo
from sync_core.sandbox import IterableState

SYNC = "iterable-production"
NO_LIMIT = 'rate_limits = { "users/bulkUpdate" = "100000/s", "export/data.json" = "100000/min" }'
VENDOR_LIMIT = 5.0  # bulkUpdate requests per second


@dataclass
class Run:
    label: str
    wall: float
    peak_rss_mb: float
    record: dict
    requests: int
    writes: int
    write_rate: float  # bulkUpdate requests per second, first to last
    sandbox_busy: float  # seconds the sandbox spent answering, intervals merged
    cpu: float = 0.0  # CPU seconds (user + system) of the sync's process


def main() -> int:
    args = arguments(__doc__, contacts=1_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        root, port = build_demo(args, tmp, product_share=0.5)
        default_toml = set_iterable(root, NO_LIMIT)

        runs = []
        with Sandbox(root, port, rate_limits=False) as sandbox:
            runs.append(measure(root, sandbox, "full, limit off"))
            change_contacts(root, args.changed, seed=1)
            runs.append(measure(root, sandbox, f"rerun after {args.changed:.0%} changed, limit off"))
            runs.append(measure(root, sandbox, "rerun with nothing changed, limit off"))
        model_query = model_query_seconds(root)
        (root / "workspace.toml").write_text(default_toml)  # the client keeps Iterable's published limits again
        with Sandbox(root, port, rate_limits=True) as sandbox:
            runs.append(measure(root, sandbox, "full resync, real limit", "--full-resync"))
            change_contacts(root, args.changed, seed=2)
            runs.append(measure(root, sandbox, f"rerun after {args.changed:.0%} changed, real limit"))
        report(args, runs, model_query)
    return 0


def arguments(doc: str, *, contacts: int, baseline: bool = False) -> argparse.Namespace:
    """The benchmarks' options; `baseline`: with --baseline and --repeat, for one that compares checkouts."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=contacts)
    parser.add_argument("--changed", type=float, default=0.01, help="share of rows changed before a rerun")
    parser.add_argument("--workdir", help="keep the workspace here (default: a temporary folder, removed)")
    if baseline:
        parser.add_argument("--baseline", help="also run sync-core from this checkout (e.g. `git worktree add "
                                               "/tmp/base main`), interleaved with this one")
        parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds against --baseline")
    return parser.parse_args()


def build_demo(args: argparse.Namespace, tmp: str, *, product_share: float) -> tuple[Path, int]:
    """A demo workspace of args.contacts contacts, for a sandbox on a free port: (its folder, the port)."""
    root = Path(args.workdir or tmp) / "bench-workspace"
    port = free_port()
    started = time.perf_counter()
    init_demo(root, contacts=args.contacts, sandbox_port=port, product_share=product_share)
    print(f"demo workspace: {args.contacts:,} contacts in {time.perf_counter() - started:.1f} s", flush=True)
    return root, port


def set_iterable(root: Path, line: str) -> str:
    """Add a TOML `line` to the demo's Iterable destination (its limits, its concurrency); the text it had."""
    toml = root / "workspace.toml"
    before = toml.read_text()
    toml.write_text(before.replace('api_key = "secrets:sandbox.iterable_api_key"\n',
                                   f'api_key = "secrets:sandbox.iterable_api_key"\n{line}\n', 1))
    return before


class Sandbox:
    """The sandbox in its own process, as a real vendor would be."""

    def __init__(self, root: Path, port: int, *, rate_limits: bool):
        self.root, self.port, self.rate_limits = root, port, rate_limits
        self.state = IterableState(load_workspace(root).sandbox.state)

    def __enter__(self):
        argv = [sys.executable, "-m", "sync_core.cli", "-w", str(self.root), "sandbox"]
        self.process = subprocess.Popen(argv + ([] if self.rate_limits else ["--no-rate-limits"]),
                                        stdout=subprocess.DEVNULL)
        try:
            wait_for_http(f"http://127.0.0.1:{self.port}/_sandbox/health", "the sandbox", timeout=60,
                          processes=[self.process])
        except BaseException:
            stop(self.process)
            raise
        return self

    def __exit__(self, *exc):
        stop(self.process)

    def answered_since(self, mark: int) -> list[dict]:
        """The requests it answered after request id `mark`."""
        return [r for r in self.state.requests(since_id=mark) if r["status"] is not None]


def cli_json(root: Path, label: str, command: list[str], env: dict | None = None):
    """`sync-core -w root <command>` (a --json command) measured in a process of its own: (its JSON answer, the
    Measured figures: wall time, peak RSS)."""
    m = measured([sys.executable, "-m", "sync_core.cli", "-w", str(root), *command], capture_output=True, env=env)
    try:
        return json.loads(m.stdout), m
    except ValueError:
        raise SystemExit(f"{label}: failed (exit {m.code}):\n{m.stdout.decode()[:2000]}\n"
                         f"{m.stderr.decode()[-3000:]}") from None


def measure(root: Path, sandbox: Sandbox, label: str, *flags: str, sync: str = SYNC,
            write_endpoint: str = "users/bulkUpdate", env: dict | None = None) -> Run:
    """One run of `sync` by the CLI in a process of its own (`env`: its environment, e.g. PYTHONPATH set to
    another checkout)."""
    mark = sandbox.state.last_request_id()
    record, m = cli_json(root, label, ["run", sync, "--json", *flags], env)
    log = sandbox.answered_since(mark)
    writes = [r for r in log if r["endpoint"] == write_endpoint]
    rate = (len(writes) - 1) / (writes[-1]["at"] - writes[0]["at"]) if len(writes) > 1 else 0.0
    run = Run(label, m.wall, m.peak_mb, record, len(log), len(writes), rate, busy_seconds(log), m.cpu)
    c = record["counts"]
    print(f"{label}: {m.wall:.1f} s, status {record['status']}, synced {c['synced']:,}, expected rejections "
          f"{c['rejected_expected']:,}, {run.requests} requests, phases {record['phases']}", flush=True)
    return run


def busy_seconds(log: list[dict]) -> float:
    """The sandbox's own time answering, with overlapping requests counted once."""
    spans = sorted((r["at"], r["at"] + (r["duration_ms"] or 0) / 1000) for r in log)
    busy, end = 0.0, float("-inf")
    for begin, finish in spans:
        if finish > end:
            busy += finish - max(begin, end)
            end = finish
    return busy


# The model's own query time, in a process of its own (this one holds the demo's build in memory).
MODEL_QUERY = ("import sys, time\n"
               "from sync_core import load_workspace\n"
               "from sync_core.sources import open_source\n"
               "workspace = load_workspace(sys.argv[1])\n"
               "model = workspace.models[workspace.sync(sys.argv[2]).model]\n"
               "source = open_source(workspace.sources[model.source])\n"
               "started = time.perf_counter()\n"
               "rows = sum(batch.num_rows for batch in source.batches(model))\n"
               "print(time.perf_counter() - started, rows)\n")


def model_query_seconds(root: Path, repeat: int = 3) -> float:
    """The median of `repeat` runs of the sync's model alone, by its source, into Arrow (every row read)."""
    times = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", MODEL_QUERY, str(root), SYNC], capture_output=True, text=True,
                             check=True).stdout.split()
        times.append(float(out[0]))
    return sorted(times)[len(times) // 2]


def change_contacts(root: Path, share: float, *, seed: int) -> None:
    """Change a field of `share` of the contacts, as a day of CRM edits would."""
    with duckdb.connect(str(root / "warehouse.duckdb")) as con:
        con.execute("UPDATE marketing_contacts SET lead_score = (lead_score + 1) % 101 "
                    "WHERE (hash(contact_id, ?) % 10000) < ?", [seed, int(share * 10000)])


def report(args, runs: list[Run], model_query: float) -> None:
    full, rerun, unchanged, real_full, real_rerun = runs
    queried = full.record["counts"]["queried"]
    print()
    print(f"## Sync benchmark: {args.contacts:,} contacts, about half unknown to Iterable")
    print()
    print(f"Command: `python bench/sync_benchmark.py --contacts {args.contacts}`; {load_average()} at the end")
    print()
    print_table(["run", "wall s", "rows/s", "synced", "expected rejections", "API calls / 1,000 rows",
                 "bulkUpdate req/s", "sandbox busy", "peak RSS"],
                [[r.label, f"{r.wall:.1f}", f"{queried / r.wall:,.0f}", f"{r.record['counts']['synced']:,}",
                  f"{r.record['counts']['rejected_expected']:,}", f"{1000 * r.requests / queried:.2f}",
                  f"{r.write_rate:.2f}", f"{r.sandbox_busy / r.wall:.0%}", f"{r.peak_rss_mb:,.0f} MB"] for r in runs])
    print()
    print(f"- the model's own query (its SQL alone, by the source, into Arrow; median of 3): {model_query:.2f} s")
    print(f"- rerun with nothing changed / the model's query: **{unchanged.wall / model_query:.2f}x** "
          f"({unchanged.wall:.1f} s; target 2x)")
    print(f"- rerun after {args.changed:.0%} changed / the model's query: **{rerun.wall / model_query:.2f}x** "
          f"({rerun.wall:.1f} s, limit off; target 2.5x), **{real_rerun.wall / model_query:.2f}x** under the real "
          f"limit ({real_rerun.wall:.1f} s)")
    print(f"- peak RSS of the sync process: **{max(r.peak_rss_mb for r in runs):,.0f} MB**")
    print(f"- throughput under the real limit: **{real_full.write_rate / VENDOR_LIMIT:.0%}** of bulkUpdate's "
          f"{VENDOR_LIMIT:g} req/s ({real_full.write_rate:.2f} req/s over {real_full.writes} requests)")
    for r in runs:
        print(f"- phases, {r.label}: " + ", ".join(f"{k} {v:.1f} s" for k, v in r.record["phases"].items()))


if __name__ == "__main__":
    sys.exit(main())
