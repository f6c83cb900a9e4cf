"""What the shared rate limit costs in throughput: bulkUpdate's rate under Iterable's 5 requests a second.

    python bench/limit_rate.py                           # main against this working tree, 3 rounds each
    python bench/limit_rate.py --rounds 5 --refs main,perf

Each round runs, for each code version in `--refs` (a git ref, exported with `git archive`, or `.`), the demo's
Iterable-Production sync once in a new demo workspace (its sandbox in the same process, rate limits on, 10 users
a request so the run makes about 100 requests), interleaved. The rate is bulkUpdate's requests from the first to
the last, as the sandbox logged their arrival; 429s are counted too. Prints each run and the median per version.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from limit_under_load import checkout  # noqa: E402

ONE_RUN = """
import sys, tempfile
from pathlib import Path
sys.path.insert(0, "tests")
from demo_helpers import demo_workspace
with tempfile.TemporaryDirectory() as folder:
    with demo_workspace(Path(folder), destination_settings="batch_size = 10") as demo:
        mark = demo.sandbox.last_request_id()
        demo.run("iterable-production")
        writes = demo.sandbox.requests(endpoint="users/bulkUpdate", since_id=mark)
        times = sorted(r["at"] for r in writes)
        print(len(writes), (len(times) - 1) / (times[-1] - times[0]), sum(r["status"] == 429 for r in writes))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--refs", default="main,.", help="comma-separated git refs; `.` is this working tree")
    args = parser.parse_args()
    refs = args.refs.split(",")
    rates: dict[str, list[float]] = {ref: [] for ref in refs}
    with tempfile.TemporaryDirectory(prefix="limit-rate-") as tmp:
        code = {ref: checkout(ref, Path(tmp)) for ref in refs}
        for round_ in range(1, args.rounds + 1):
            for ref in refs:
                done = subprocess.run([sys.executable, "-c", ONE_RUN], cwd=code[ref], capture_output=True, text=True,
                                      env={**os.environ, "PYTHONPATH": str(code[ref])}, timeout=900)
                if done.returncode:
                    raise SystemExit(done.stdout + done.stderr)
                requests, rate, rejected = done.stdout.split()[-3:]
                rates[ref].append(float(rate))
                print(f"round {round_} {ref:>8}: {requests} requests at {float(rate):.2f} req/s "
                      f"({float(rate) / 5:.0%} of 5/s), {rejected} answered 429, load {os.getloadavg()[0]:.1f}",
                      flush=True)
    for ref in refs:
        print(f"{ref}: median {statistics.median(rates[ref]):.2f} req/s")
    if len(refs) == 2:
        print(f"{refs[1]} / {refs[0]}: {statistics.median(rates[refs[1]]) / statistics.median(rates[refs[0]]):.3f}")


if __name__ == "__main__":
    main()
