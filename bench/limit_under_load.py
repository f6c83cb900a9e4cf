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
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/test_shared_limits.py::test_two_sync_processes_never_exceed_the_project_limit_together"
SPIN = "while True: pass"


def checkout(ref: str, into: Path) -> Path:
    """The code of `ref` in a folder: the working tree itself for `.`, else a `git archive` export."""
    if ref == ".":
        return ROOT
    folder = into / ref.replace("/", "_")
    folder.mkdir()
    archive = into / f"{folder.name}.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(ROOT), "archive", ref], stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    return folder


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
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--busy", type=int, default=2, help="processes spinning on the CPU during the runs")
    parser.add_argument("--refs", default="main,.", help="comma-separated git refs; `.` is this working tree")
    args = parser.parse_args()
    refs = args.refs.split(",")
    passes = {ref: 0 for ref in refs}
    with tempfile.TemporaryDirectory(prefix="limit-load-") as tmp:
        code = {ref: checkout(ref, Path(tmp)) for ref in refs}
        spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(args.busy)]
        try:
            print(f"{args.busy} busy processes on {os.cpu_count()} cores; {args.rounds} rounds of {TEST}")
            for round_ in range(1, args.rounds + 1):
                for ref in refs:
                    passed, seconds, reason = run_test(code[ref])
                    passes[ref] += passed
                    load = os.getloadavg()[0]
                    print(f"round {round_} {ref:>8}: {'pass' if passed else 'FAIL'} in {seconds:5.1f} s, "
                          f"load {load:.1f}  {reason}", flush=True)
        finally:
            for spinner in spinners:
                spinner.kill()
                spinner.wait()
    for ref in refs:
        print(f"{ref}: {passes[ref]} of {args.rounds} passed")


if __name__ == "__main__":
    main()
