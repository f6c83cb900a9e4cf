"""A scaled-down run of the sync benchmark, so it keeps working (its figures are not judged here)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parent.parent / "bench" / "sync_benchmark.py"


def test_sync_benchmark_runs_end_to_end_on_a_small_warehouse(tmp_path):
    done = subprocess.run([sys.executable, str(BENCH), "--contacts", "3000", "--workdir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    for line in ("incremental / full wall time, limit off", "incremental / full wall time, real limit",
                 "floor, a rerun with nothing changed", "peak RSS of the sync process", "throughput under the real limit"):
        assert line in done.stdout
    assert "| full, limit off |" in done.stdout


SNOWFLAKE_READ = Path(__file__).parent.parent / "bench" / "snowflake_read.py"


def test_snowflake_read_benchmark_runs_both_sources_on_a_small_warehouse(tmp_path):
    done = subprocess.run([sys.executable, str(SNOWFLAKE_READ), "--rows", "3000", "--runs", "1",
                           "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "The model read, 3,000 rows" in done.stdout  # both sources read every row (else it exits non-zero)
    for line in ("| duckdb |", "| snowflake |", "Snowflake / DuckDB rows/s:", "Snowflake / DuckDB peak RSS:"):
        assert line in done.stdout


def test_reconcile_benchmark_runs_end_to_end_and_finds_the_edited_users(tmp_path):
    bench = Path(__file__).parent.parent / "bench" / "reconcile_benchmark.py"
    done = subprocess.run([sys.executable, str(bench), "--contacts", "2000", "--edited", "0.01", "--workdir",
                           str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    [found] = [line for line in done.stdout.splitlines() if line.startswith("- after the edits:")]
    differing, found_edited, edited = (int(n.replace(",", "")) for n in
                                       re.findall(r"([\d,]+) (?:differing|of the|edited users the)", found))
    assert differing == found_edited == edited > 0
    assert "clean: True" in done.stdout and "| sync run (full) |" in done.stdout
