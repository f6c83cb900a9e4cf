"""The peer benchmark: the same sync by sync-core, drt and dlt, side by side in one run.

    python bench/peer_benchmark.py --rows 100000 --repeat 5
    python bench/peer_benchmark.py --rows 100000 1000000 --repeat 5     # both sizes, one table each
    python bench/peer_benchmark.py --rows 2000 --repeat 1 --tools sync-core   # no peers, no network
    python bench/peer_benchmark.py --tools sync-core drt --baseline /tmp/base  # and another checkout, interleaved

One model (peer_model.py: contacts in one DuckDB file) goes to one Iterable-shaped receiver (peer_receiver.py,
its own process, no rate limit) as bulkUpdate requests of 1,000 users:
  - sync-core: a workspace with a DuckDB source and an Iterable destination pointed at the receiver, upsert,
    its client's rate limit lifted (as bench/sync_benchmark.py lifts it);
  - drt (drt-core): its DuckDB source and rest_api destination in batch mode, a Jinja batch template building
    Iterable's body, rate limit lifted;
  - dlt: peer_dlt_pipeline.py, a resource reading the DuckDB file and a `@dlt.destination(batch_size=1000)`.
The peers are installed by this script in their own virtual environments under --cache (versions pinned below,
and printed). Each tool runs as a whole process with fresh state (a first full sync), the tools interleaved
(A B C A B C ...). A small wrapper process around each run measures wall time, CPU time (user + sys of the
tool and every process it waited for) and peak RSS: a child forked from this script would inherit its peak.
After every run the receiver's count must show each row delivered once, or the benchmark stops.

sync-core's modules (this checkout's and the baseline's) are compiled to bytecode first, as a pip install compiles
the peers' (and sync-core's when installed so): a run from a source checkout under PYTHONDONTWRITEBYTECODE (set
where these benchmarks run) would otherwise compile the 70-odd modules a run imports at every start, some 0.2 s
of CPU that no installed copy pays. --no-compile measures it as before.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import requests

from bench_common import free_port, measured, stop, wait_for_http
from peer_model import FIELDS, MATCH_COLUMN, QUERY, create_model

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
BATCH = 1000  # users a request, for every tool
API_KEY_ENV = "PEER_BENCH_ITERABLE_KEY"
# The peers, pinned; duckdb pinned to ours so every tool reads the one file the same engine wrote.
PEERS = {
    "drt": ["drt-core[duckdb]==1.2.1", f"duckdb=={version('duckdb')}"],
    "dlt": ["dlt==1.31.0", f"duckdb=={version('duckdb')}"],
}
TOOLS = ("sync-core", "drt", "dlt")
BASELINE = "baseline"  # sync-core from another checkout (--baseline)
QUIET = {"DO_NOT_TRACK": "1", "RUNTIME__DLTHUB_TELEMETRY": "false"}  # no usage telemetry from any tool

SYNC_CORE_WORKSPACE = '''\
[sources.model]
type = "duckdb"
path = "{database}"

[destinations.receiver]
type = "iterable"
base_url = "{url}"
api_key = "env:{key_env}"
batch_size = {batch}
rate_limits = {{ "users/bulkUpdate" = "100000/s", "export/data.json" = "100000/min" }}

[models.contacts]
source = "model"
primary_key = "{match}"
sql = "{query}"

[syncs.peers]
model = "contacts"
destination = "receiver"
object = "user"
mode = "upsert"
match = {{ field = "email", column = "{match}" }}
mappings = [{mappings}]
'''

DRT_PROJECT = 'name: peer_benchmark\nversion: "0.1"\nprofile: peer\n'
DRT_PROFILES = "peer:\n  type: duckdb\n  database: {database}\n"
DRT_SYNC = '''\
name: iterable_users
model: "{query}"
destination:
  type: rest_api
  url: "{url}/api/users/bulkUpdate"
  method: POST
  headers:
    Content-Type: "application/json"
    Api-Key: "peer-benchmark"
  body_mode: batch
  batch_template: |
    {{"users": [{{% for r in rows %}}{{% if not loop.first %}}, {{% endif %}}{{"email": {{{{ r.{match} | tojson_safe }}}}, "dataFields": {{{fields}}}}}{{% endfor %}}]}}
sync:
  mode: full
  batch_size: {batch}
  rate_limit:
    requests_per_second: 100000
  on_error: fail
'''


@dataclass
class Run:
    tool: str
    wall: float
    cpu: float
    peak_mb: float
    requests: int


def main() -> int:
    args = arguments()
    tools = [t for t in TOOLS if t in args.tools] + ([BASELINE] if args.baseline else [])
    pythons = {tool: install_peer(Path(args.cache), tool) for tool in tools if tool in PEERS}
    if not args.no_compile:
        for checkout in [REPO] + ([Path(args.baseline)] if args.baseline else []):
            compile_package(checkout / "sync_core")
    with tempfile.TemporaryDirectory(prefix="peer-bench-") as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        with Receiver(work / "receiver.log") as receiver:
            for rows in args.rows:
                database = work / f"model-{rows}.duckdb"
                started = time.perf_counter()
                create_model(str(database), rows)
                print(f"model: {rows:,} rows in {database.name} ({time.perf_counter() - started:.1f} s)", flush=True)
                load_before = os.getloadavg()
                runs = []
                for round_ in range(args.repeat):
                    for tool in tools:
                        run_dir = work / f"{rows}-{tool}-{round_}"
                        argv, env = prepare(tool, run_dir, database, receiver.url, pythons.get(tool),
                                            args.baseline)
                        runs.append(measure(tool, argv, env, run_dir, receiver, rows))
                report(rows, args.repeat, tools, runs, load_before, os.getloadavg(), args.baseline)
    return 0


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000], help="model sizes, one table each")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each tool per size, interleaved")
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    parser.add_argument("--cache", default=str(REPO / ".bench-peers"), help="where the peers' venvs are kept")
    parser.add_argument("--workdir", help="keep the model and each run's folder here (default: removed)")
    parser.add_argument("--baseline", help="also run sync-core from this checkout (e.g. `git worktree add /tmp/base "
                                           "main`), interleaved with the others, as the tool `baseline`")
    parser.add_argument("--no-compile", action="store_true",
                        help="leave sync-core's modules uncompiled (each run compiles those without a current .pyc)")
    args = parser.parse_args()
    if args.repeat < 1 or min(args.rows) < 1:
        parser.error("--rows and --repeat must be at least 1")
    return args


def install_peer(cache: Path, tool: str) -> Path:
    """The peer's own virtual environment with its pinned requirements (made once, reused after): its python."""
    requirements = PEERS[tool]
    venv = cache / tool
    python = venv / "bin" / "python"
    marker = venv / "requirements.txt"
    if not (python.exists() and marker.exists() and marker.read_text().split() == requirements):
        print(f"installing {tool} ({' '.join(requirements)}) in {venv} ...", flush=True)
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *requirements], check=True)
        marker.write_text("\n".join(requirements) + "\n")
    return python


def compile_package(package: Path) -> None:
    """Bytecode for every module of `package`, in its __pycache__ folders (ignored by git), as pip install writes
    it; a module changed later is compiled again when imported, as without this."""
    if not compileall.compile_dir(str(package), quiet=1):
        raise SystemExit(f"could not compile {package} to bytecode (see above); --no-compile runs without")


class Receiver:
    """peer_receiver.py in its own process on a free port, stopped on exit."""

    def __init__(self, log: Path):
        self.log = log

    def __enter__(self) -> Receiver:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._log = open(self.log, "wb")
        self.process = subprocess.Popen([sys.executable, str(BENCH / "peer_receiver.py"), "--port", str(port)],
                                        stdout=self._log, stderr=subprocess.STDOUT)
        try:
            wait_for_http(f"{self.url}/_count", f"the receiver (its log: {self.log})", timeout=30,
                          processes=[self.process], every=0.05)
        except BaseException:
            self.__exit__()
            raise
        return self

    def counts(self) -> dict:
        return requests.get(f"{self.url}/_count", timeout=5).json()

    def reset(self) -> None:
        requests.post(f"{self.url}/_reset", timeout=5).raise_for_status()

    def __exit__(self, *exc) -> None:
        stop(self.process, timeout=10)
        self._log.close()


def prepare(tool: str, run_dir: Path, database: Path, url: str, python: Path | None,
            baseline: str | None = None) -> tuple[list[str], dict]:
    """A fresh folder for one run of `tool` (no state from an earlier run): the command and its environment."""
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    env = {**os.environ, **QUIET}
    if tool == BASELINE:  # the other checkout's sync_core, first on the path, with this environment's packages
        env["PYTHONPATH"] = str(Path(baseline).resolve())
    if tool in ("sync-core", BASELINE):
        mappings = ", ".join(f'{{ column = "{c}", field = "{f}" }}' for c, f in FIELDS.items())
        (run_dir / "workspace.toml").write_text(SYNC_CORE_WORKSPACE.format(
            database=database, url=url, key_env=API_KEY_ENV, batch=BATCH, match=MATCH_COLUMN, query=QUERY,
            mappings=mappings))
        env[API_KEY_ENV] = "peer-benchmark"
        return [sys.executable, "-m", "sync_core.cli", "-w", str(run_dir), "run", "peers", "--json"], env
    env["HOME"] = str(run_dir)  # the peers keep their profiles and global state under HOME: a fresh one each run
    if tool == "drt":
        # The run's folder is both drt's project (the working directory) and its HOME (~/.drt/profiles.yml).
        (run_dir / "syncs").mkdir()
        (run_dir / ".drt").mkdir()
        (run_dir / ".drt" / "profiles.yml").write_text(DRT_PROFILES.format(database=database))
        (run_dir / "drt_project.yml").write_text(DRT_PROJECT)
        fields = ", ".join(f'"{f}": {{{{ r.{c} | tojson_safe }}}}' for c, f in FIELDS.items())
        (run_dir / "syncs" / "iterable_users.yml").write_text(DRT_SYNC.format(
            query=QUERY, url=url, match=MATCH_COLUMN, fields=fields, batch=BATCH))
        return [str(python.parent / "drt"), "run", "--select", "iterable_users"], env
    return [str(python), str(BENCH / "peer_dlt_pipeline.py"), "--database", str(database), "--url", url,
            "--pipelines-dir", str(run_dir / "pipelines"), "--batch-size", str(BATCH)], env


def measure(tool: str, argv: list[str], env: dict, run_dir: Path, receiver: Receiver, rows: int) -> Run:
    receiver.reset()
    with open(run_dir / "stdout", "wb") as out, open(run_dir / "stderr", "wb") as err:
        m = measured(argv, stdout=out, stderr=err, env=env, cwd=run_dir)
    got = receiver.counts()
    code = m.code
    if code != 0 or got["users"] != rows or got["distinct"] != rows:
        tail = (run_dir / "stdout").read_text(errors="replace")[-1500:] + (run_dir / "stderr").read_text(
            errors="replace")[-3000:]
        raise SystemExit(f"{tool} (exit {code}) delivered {got['users']:,} users ({got['distinct']:,} distinct) "
                         f"of {rows:,} rows: the benchmark stops. The end of its output (its folder is kept with "
                         f"--workdir):\n{tail}")
    run = Run(tool, m.wall, m.cpu, m.peak_mb, got["requests"])
    print(f"  {tool}: {run.wall:.1f} s wall, {run.cpu:.1f} s CPU, {run.peak_mb:,.0f} MB peak RSS, "
          f"{run.requests:,} requests, every row received once", flush=True)
    return run


def tool_versions(baseline: str | None = None) -> dict[str, str]:
    def commit(checkout) -> str:
        return subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip() or "no git"
    pinned = {tool: reqs[0].split("==")[1] for tool, reqs in PEERS.items()}
    ours = {"sync-core": f"{version('sync-core')} ({commit(REPO)})"}
    if baseline:
        ours[BASELINE] = f"sync-core at {commit(baseline)}"
    return {**ours, **pinned}


def report(rows: int, repeat: int, tools: list[str], runs: list[Run], load_before, load_after,
           baseline: str | None = None) -> None:
    versions = tool_versions(baseline)
    medians = {}
    print()
    print(f"## Peers: {rows:,} rows, medians of {repeat} whole-process runs each, interleaved")
    print()
    print(f"Load average (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in load_before)} before, "
          f"{' '.join(f'{x:.2f}' for x in load_after)} after; {os.cpu_count()} cores.")
    print()
    print("| tool | version | wall s | CPU s | peak RSS MB | rows/s | requests | wall s, each run |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for tool in tools:
        mine = [r for r in runs if r.tool == tool]
        m = medians[tool] = {k: statistics.median(getattr(r, k) for r in mine) for k in ("wall", "cpu", "peak_mb")}
        print(f"| {tool} | {versions[tool]} | {m['wall']:.2f} | {m['cpu']:.2f} | {m['peak_mb']:,.0f} "
              f"| {rows / m['wall']:,.0f} | {mine[0].requests:,} | {', '.join(f'{r.wall:.1f}' for r in mine)} |")
    if "sync-core" in medians:
        print()
        for peer in (t for t in tools if t != "sync-core"):  # the baseline too: the change's own ratio
            ours, theirs = medians["sync-core"], medians[peer]
            print(f"- sync-core / {peer}: wall **{ours['wall'] / theirs['wall']:.2f}x**, CPU "
                  f"{ours['cpu'] / theirs['cpu']:.2f}x, peak RSS {ours['peak_mb'] / theirs['peak_mb']:.2f}x "
                  f"(below 1: sync-core takes less)")
    print(flush=True)


if __name__ == "__main__":
    sys.exit(main())
