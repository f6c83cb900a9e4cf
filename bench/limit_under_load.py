"""The shared rate limit under CPU load: does the vendor ever see more than its limit?

    python bench/limit_under_load.py                          # main against this working tree, 4 rounds each
    python bench/limit_under_load.py --rounds 6 --busy 4 --refs main,.

Runs tests/test_shared_limits.py::test_two_sync_processes_never_exceed_the_project_limit_together (two sync
processes writing to one sandbox project, 5 bulkUpdate requests a second, no 429 allowed) while `--busy`
processes spin on the CPU, for each code version in `--refs` (a git ref, exported with `git archive`, or `.` for
this working tree), interleaved round by round so both meet the same load. Prints each round's outcome with the
load average, then the passes per version. The test's own assertions decide a pass: no 429, at most 5 arrivals
in any second.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from bench_common import add_refs_arguments, interleaved

TEST = "tests/test_shared_limits.py::test_two_sync_processes_never_exceed_the_project_limit_together"
SPIN = "while True: pass"


def run_test(code: Path) -> tuple[bool, float, str]:
    """One run of the test against `code`: passed, seconds, and the assertion line of a failure."""
    env = {**os.environ, "PYTHONPATH": str(code)}  # the runs' subprocesses import this version too
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", TEST],
                          cwd=code, env=env, capture_output=True, text=True, timeout=900)
    reason = next((line.strip() for line in done.stdout.splitlines() if line.startswith("E ")), "")
    return done.returncode == 0, time.monotonic() - started, reason[:150]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_refs_arguments(parser, rounds=4)
    parser.add_argument("--busy", type=int, default=2, help="processes spinning on the CPU during the runs")
    args = parser.parse_args()
    refs = args.refs.split(",")
    passes = {ref: 0 for ref in refs}
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(args.busy)]
    try:
        print(f"{args.busy} busy processes on {os.cpu_count()} cores; {args.rounds} rounds of {TEST}")
        for round_, ref, code, _ in interleaved(refs, args.rounds, "limit-load-"):
            passed, seconds, reason = run_test(code)
            passes[ref] += passed
            print(f"round {round_} {ref:>8}: {'pass' if passed else 'FAIL'} in {seconds:5.1f} s, "
                  f"load {os.getloadavg()[0]:.1f}  {reason}", flush=True)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    for ref in refs:
        print(f"{ref}: {passes[ref]} of {args.rounds} passed")


if __name__ == "__main__":
    main()
