"""The events reconciliation benchmark runs end to end on a small demo and finds exactly the events it edited."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def test_events_reconcile_benchmark_runs_end_to_end_and_finds_the_edited_events(tmp_path):
    bench = Path(__file__).parent.parent / "bench" / "reconcile_events_benchmark.py"
    done = subprocess.run([sys.executable, str(bench), "--contacts", "2000", "--edited", "0.01", "--workdir",
                           str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    [found] = [line for line in done.stdout.splitlines() if line.startswith("- after the edits:")]
    differing, found_edited, edited = (int(n.replace(",", "")) for n in
                                       re.findall(r"([\d,]+) (?:differing|of the|edited events)", found))
    assert differing == found_edited == edited > 0
    assert "clean: True" in done.stdout and "| events sync run (full) |" in done.stdout
