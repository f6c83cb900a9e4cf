"""`sync-core up` on a new folder: seconds until "Dashboard ready", for two code versions side by side.

    python bench/up_ready.py                          # main against this working tree, 2 rounds each
    python bench/up_ready.py --rounds 3 --refs main,perf

Each round starts `sync-core up` in a new temporary folder (the demo's default 20,000 contacts and three
simulated days of history) for each version in `--refs` (a git ref, exported with `git archive`, or `.` for this
working tree), interleaved so both meet the same load, times it from launch to the "Dashboard ready" line, then
stops it with Ctrl-C (SIGINT) and waits for it to exit. Prints each start with the load average, how long the
history took, the exports the Iterable sandbox answered and the seconds spent waiting for each destination's rate
limit, then the median per version and the ratio.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from limit_under_load import checkout  # noqa: E402

READY = re.compile(r"Dashboard ready after")
WAITED = re.compile(r"waited (\d+) s for (.+)'s rate limit")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_port_pair() -> int:
    """A port whose next one is free too (the Marketo sandbox takes it)."""
    while True:
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue


def start_up(code: Path, folder: Path) -> dict:
    """One `sync-core up` on a new folder, stopped once the dashboard is ready."""
    env = {**os.environ, "PYTHONPATH": str(code), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "sync_core.cli", "-w", str(folder), "up", "--port", str(free_port()),
               "--sandbox-port", str(free_port_pair())]
    started = time.monotonic()
    up = subprocess.Popen(command, cwd=code, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True)
    lines, ready = [], None
    try:
        for line in up.stdout:
            lines.append(line.rstrip())
            if READY.search(line):
                ready = time.monotonic() - started
                break
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
        try:
            up.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
    if ready is None:
        raise SystemExit("`sync-core up` ended without a ready dashboard:\n" + "\n".join(lines[-20:]))
    history = next((line for line in lines if line.startswith("History ready")), "")
    with sqlite3.connect(folder / "sandbox" / "iterable.sqlite") as sandbox:
        (exports,) = sandbox.execute("SELECT COUNT(*) FROM requests WHERE endpoint = 'export/data.json'").fetchone()
    waited: dict[str, int] = {}  # seconds waited per destination's rate limit
    for m in filter(None, map(WAITED.search, lines)):
        waited[m[2]] = waited.get(m[2], 0) + int(m[1])
    return {"ready": ready, "history": history, "exports": exports, "waited": waited}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--refs", default="main,.", help="comma-separated git refs; `.` is this working tree")
    args = parser.parse_args()
    refs = args.refs.split(",")
    times: dict[str, list[float]] = {ref: [] for ref in refs}
    with tempfile.TemporaryDirectory(prefix="up-ready-") as tmp:
        code = {ref: checkout(ref, Path(tmp)) for ref in refs}
        for round_ in range(1, args.rounds + 1):
            for ref in refs:
                load = os.getloadavg()[0]
                result = start_up(code[ref], Path(tmp) / f"ws-{round_}-{ref.replace('/', '_')}")
                times[ref].append(result["ready"])
                print(f"round {round_} {ref:>8}: ready in {result['ready']:5.1f} s (load {load:.1f} at start); "
                      f"{result['exports']} Iterable exports; waited for rate limits: "
                      f"{', '.join(f'{d} {s} s' for d, s in result['waited'].items()) or 'never'}; "
                      f"{result['history']}", flush=True)
    medians = {ref: statistics.median(values) for ref, values in times.items()}
    for ref in refs:
        print(f"{ref}: median {medians[ref]:.1f} s to ready over {len(times[ref])} starts")
    if len(refs) == 2:
        print(f"{refs[1]} / {refs[0]}: {medians[refs[1]] / medians[refs[0]]:.2f}")


if __name__ == "__main__":
    main()
