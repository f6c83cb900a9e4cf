"""`sync-core up` on a new folder: seconds until "Dashboard ready", for two code versions side by side.

    python bench/up_ready.py                          # main against this working tree, 2 rounds each
    python bench/up_ready.py --rounds 3 --refs main,perf
    python bench/up_ready.py --contacts 20000         # both versions on a demo of that size

Each round starts `sync-core up` in a new temporary folder (each version's default demo, or `--contacts`, and
three simulated days of history) for each version in `--refs` (a git ref, exported with `git archive`, or `.` for
this working tree), interleaved so both meet the same load, times it from launch to the "Dashboard ready" line,
then stops it with Ctrl-C (SIGINT) and waits for it to exit. Prints each start with the load average, when the
workspace was written, each day began and the history was ready (seconds from launch), the exports the Iterable
sandbox answered, the calls the Marketo sandbox answered (REST calls, which count against its limit) and the
seconds spent waiting for each destination's rate limit, then the median per version and the ratio.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from bench_common import add_refs_arguments, free_port, interleaved, print_medians, stop

READY = re.compile(r"Dashboard ready after")
MARKS = {"sandbox": re.compile(r"sandbox: http"), "history": re.compile(r"^History ready")}  # first line of each
DAY = re.compile(r"^Day (\d+) of")
WAITED = re.compile(r"waited (\d+) s for (.+)'s rate limit")


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


def start_up(code: Path, folder: Path, contacts: int | None) -> dict:
    """One `sync-core up` on a new folder, stopped once the dashboard is ready."""
    env = {**os.environ, "PYTHONPATH": str(code), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "sync_core.cli", "-w", str(folder), "up", "--port", str(free_port()),
               "--sandbox-port", str(free_port_pair())] + (["--contacts", str(contacts)] if contacts else [])
    started = time.monotonic()
    up = subprocess.Popen(command, cwd=code, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True)
    lines, ready, marks = [], None, {}
    try:
        for line in up.stdout:
            lines.append(line.rstrip())
            at = time.monotonic() - started
            for mark, pattern in MARKS.items():
                if pattern.search(line):
                    marks.setdefault(mark, at)
            if day := DAY.search(line):
                marks[f"day {day[1]}"] = at
            if READY.search(line):
                ready = time.monotonic() - started
                break
    finally:
        stop(up, sig=signal.SIGINT, timeout=120)
    if ready is None:
        raise SystemExit("`sync-core up` ended without a ready dashboard:\n" + "\n".join(lines[-20:]))
    history = next((line for line in lines if line.startswith("History ready")), "")
    with sqlite3.connect(folder / "sandbox" / "iterable.sqlite") as sandbox:
        (exports,) = sandbox.execute("SELECT COUNT(*) FROM requests WHERE endpoint = 'export/data.json'").fetchone()
    with sqlite3.connect(folder / "sandbox" / "marketo.sqlite") as sandbox:
        marketo = dict(sandbox.execute("SELECT endpoint, COUNT(*) FROM requests WHERE endpoint <> "
                                       "'identity/oauth/token' GROUP BY endpoint").fetchall())
    waited: dict[str, int] = {}  # seconds waited per destination's rate limit
    for m in filter(None, map(WAITED.search, lines)):
        waited[m[2]] = waited.get(m[2], 0) + int(m[1])
    creating = next((line for line in lines if line.startswith("Creating the demo workspace")), "")
    return {"ready": ready, "history": history, "exports": exports, "waited": waited, "marketo": marketo,
            "marks": marks, "contacts": re.search(r"\(([\d,]+) contacts", creating)[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_refs_arguments(parser, rounds=2)
    parser.add_argument("--contacts", type=int, help="the demo's size for every version (default: each one's own)")
    args = parser.parse_args()
    refs = args.refs.split(",")
    times: dict[str, list[float]] = {ref: [] for ref in refs}
    for round_, ref, code, tmp in interleaved(refs, args.rounds, "up-ready-"):
        load = os.getloadavg()[0]
        result = start_up(code, tmp / f"ws-{round_}-{ref.replace('/', '_')}", args.contacts)
        times[ref].append(result["ready"])
        marketo = result["marketo"]
        print(f"round {round_} {ref:>8}: ready in {result['ready']:5.1f} s (load {load:.1f} at start; "
              f"{result['contacts']} contacts); "
              f"{', '.join(f'{m} {at:.1f}' for m, at in result['marks'].items())}; "
              f"{result['exports']} Iterable exports; {sum(marketo.values())} Marketo calls "
              f"({marketo.get('leads', 0)} look-ups, {marketo.get('activities/external', 0)} adds); "
              f"waited for rate limits: "
              f"{', '.join(f'{d} {s} s' for d, s in result['waited'].items()) or 'never'}; "
              f"{result['history']}", flush=True)
    print_medians(times, "median {median:.1f} s to ready over {n} starts")


if __name__ == "__main__":
    main()
