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
import subprocess
import sys

from bench_common import add_refs_arguments, interleaved, print_medians

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
    add_refs_arguments(parser, rounds=3)
    args = parser.parse_args()
    refs = args.refs.split(",")
    rates: dict[str, list[float]] = {ref: [] for ref in refs}
    for round_, ref, code, _ in interleaved(refs, args.rounds, "limit-rate-"):
        done = subprocess.run([sys.executable, "-c", ONE_RUN], cwd=code, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(code)}, timeout=900)
        if done.returncode:
            raise SystemExit(done.stdout + done.stderr)
        requests, rate, rejected = done.stdout.split()[-3:]
        rates[ref].append(float(rate))
        print(f"round {round_} {ref:>8}: {requests} requests at {float(rate):.2f} req/s "
              f"({float(rate) / 5:.0%} of 5/s), {rejected} answered 429, load {os.getloadavg()[0]:.1f}", flush=True)
    print_medians(rates, "median {median:.2f} req/s over {n} runs")


if __name__ == "__main__":
    main()
