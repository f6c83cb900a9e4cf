"""The model read through the Snowflake source against the DuckDB source, on the same rows, side by side in one run.

    python bench/snowflake_read.py                     # 1,000,000 rows, 3 reads per source
    python bench/snowflake_read.py --rows 20000 --runs 1   # a quick look (the CI's smoke test)

One DuckDB file of --rows contacts (the demo's columns: text, integers, a decimal, a boolean, timestamps) is read
by the demo's contacts model, as a run's query phase reads it: the source's `scan` into the planner's in-process
DuckDB, which builds its table from it. The Snowflake source reads from the local emulator (fakesnow's server,
loaded from the same file) through a real Snowpark session and connector over loopback HTTP.

Each read is a separate process, so its peak RSS (ru_maxrss) is its own: the reads alternate between the sources,
and the emulator is a process of its own too (its memory is not the client's). Printed: rows/s and peak RSS per
source (median of --runs), and the ratios.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import ROOT, free_port, load_average, print_table, stop, wait_for_http

sys.path.insert(0, str(ROOT))

MODEL = ("SELECT email, user_id, first_name, last_name, company, country, lifecycle_stage, lead_score, "
         "annual_revenue, email_opt_in, created_at, updated_at FROM marketing_contacts WHERE deleted_at IS NULL")
PASSWORD = "bench-password"  # the emulator's, on loopback, for this run only


def build(path: Path, rows: int) -> None:
    from sync_core.demo.warehouse import create_warehouse
    create_warehouse(path, contacts=rows)


def read(args) -> None:
    """One read of the model into a planner-like DuckDB table, in this process; prints its figures as JSON."""
    import duckdb

    from sync_core.config import ModelConfig, SourceConfig
    from sync_core.snowflake_settings import SnowflakeSettings
    from sync_core.secrets import SecretRef
    from sync_core.sources import open_source

    if args.read == "duckdb":
        config = SourceConfig("wh", "duckdb", path=Path(args.warehouse))
    else:
        import os
        os.environ["BENCH_SNOWFLAKE_PASSWORD"] = PASSWORD
        settings = SnowflakeSettings(file="bench", key="sources.wh", root=ROOT, account="bench", user="BENCH",
                                     password=SecretRef("env", "BENCH_SNOWFLAKE_PASSWORD", "bench", "password"),
                                     host="127.0.0.1", port=args.port, protocol="http", database="BENCH",
                                     schema="S")
        config = SourceConfig("wh", "snowflake", snowflake=settings)
    model = ModelConfig(name="contacts", source="wh", primary_key="email", entity="person", sql=MODEL)
    con = duckdb.connect()
    con.execute("SET memory_limit = '1GB'")  # the planner's bound
    started = time.perf_counter()
    with open_source(config).scan(con, model) as rows:
        con.execute(f"CREATE TEMP TABLE model_rows AS SELECT * FROM {rows}")
    seconds = time.perf_counter() - started
    count = con.execute("SELECT count(*) FROM model_rows").fetchone()[0]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": count, "seconds": seconds, "peak_mb": peak_mb}))


def serve(args) -> None:
    """The emulator, loaded from the warehouse file, until terminated."""
    from sync_core.demo.snowflake_emulator import Emulator, quiet, server
    quiet()
    emulator = Emulator("127.0.0.1", args.port, password=PASSWORD)
    emulator.load(Path(args.warehouse), "BENCH", "S")
    print("loaded", flush=True)
    server(emulator).run()


def child(*argv: str) -> list[str]:
    return [sys.executable, __file__, *argv]


def measure(source: str, warehouse: Path, port: int) -> dict:
    done = subprocess.run(child("--read", source, "--warehouse", str(warehouse), "--port", str(port)),
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"the {source} read failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None, help="keeps the warehouse file between runs")
    parser.add_argument("--read", choices=("duckdb", "snowflake"), help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read:
        return read(args)
    if args.serve:
        return serve(args)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="snowflake-read-"))
    workdir.mkdir(parents=True, exist_ok=True)
    warehouse = workdir / f"warehouse-{args.rows}.duckdb"
    if not warehouse.exists():
        print(f"Building {args.rows:,} contacts in {warehouse}...", flush=True)
        build(warehouse, args.rows)
    port = free_port()
    emulator = subprocess.Popen(child("--serve", "--warehouse", str(warehouse), "--port", str(port)),
                                stdout=subprocess.PIPE, text=True)
    try:
        if emulator.stdout.readline().strip() != "loaded":
            raise SystemExit("the emulator did not start")
        from sync_core.snowflake_settings import HEALTH_PATH
        # uvicorn binds after the load
        wait_for_http(f"http://127.0.0.1:{port}{HEALTH_PATH}", "the emulator", timeout=60, processes=[emulator])
        figures: dict[str, list[dict]] = {"duckdb": [], "snowflake": []}
        for run in range(args.runs):
            for source in figures:  # alternated, so the machine's noise falls on both alike
                figures[source].append(measure(source, warehouse, port))
                f = figures[source][-1]
                print(f"  run {run + 1}, {source}: {f['rows']:,} rows in {f['seconds']:.2f} s, peak RSS "
                      f"{f['peak_mb']:,.0f} MB", flush=True)
    finally:
        stop(emulator)

    rows = {s: {r["rows"] for r in runs} for s, runs in figures.items()}
    if rows["duckdb"] != rows["snowflake"] or len(rows["duckdb"]) != 1:
        raise SystemExit(f"the sources read different row counts: {rows}")
    median = {s: {"seconds": statistics.median(r["seconds"] for r in runs),
                  "peak_mb": statistics.median(r["peak_mb"] for r in runs)} for s, runs in figures.items()}
    count = rows["duckdb"].pop()
    print(f"\nThe model read, {count:,} rows, median of {args.runs} (each read a process of its own):\n")
    print_table(["source", "wall s", "rows/s", "peak RSS"],
                [[source, f"{m['seconds']:.2f}", f"{count / m['seconds']:,.0f}", f"{m['peak_mb']:,.0f} MB"]
                 for source, m in median.items()])
    d, s = median["duckdb"], median["snowflake"]
    print(f"\n- Snowflake / DuckDB rows/s: {d['seconds'] / s['seconds']:.2f}")
    print(f"- Snowflake / DuckDB peak RSS: {s['peak_mb'] / d['peak_mb']:.2f}")
    print(f"- {load_average()} at the end")


if __name__ == "__main__":
    main()
