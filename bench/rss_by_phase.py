"""Peak RSS of one `sync-core` command, per phase of the run: where a sync's memory goes.

    python bench/rss_by_phase.py -w WORKSPACE run SYNC --json      # any sync-core arguments

A thread samples the process's resident size every 20 ms and keeps the peak of each phase the run enters
(RunContext.phase; the query split into the model's load, hash and digest, and the diff after it), and prints
one line on stderr at exit: `RSS_PEAKS phase MB, ...| VmHWM` (the kernel's peak of the whole process). Measured
as part of the run itself, so it is not for timing: the sampler costs a little CPU.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time

import sync_core.planner as planner
import sync_core.run_context as run_context
from sync_core.cli import main

_phase = ["start"]
_peaks: dict[str, float] = {}  # phase -> peak MB, in the order the run entered them


def _status(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return 0.0


def _sample() -> None:
    while True:
        phase = _phase[0]
        _peaks[phase] = max(_peaks.get(phase, 0.0), _status("VmRSS:"))
        time.sleep(0.02)


def _marked(wrapped):
    @contextlib.contextmanager
    def phase(self, phase_name):
        _phase[0] = phase_name
        with wrapped(self, phase_name):
            yield
        _phase[0] = phase_name + " (after)"
    return phase


def _load_marked(wrapped):
    def load(*args, **kwargs):
        _phase[0] = "query: load, hash, digest"
        try:
            return wrapped(*args, **kwargs)
        finally:
            _phase[0] = "query: the diff"
    return load


def report() -> None:
    peaks = ", ".join(f"{phase} {mb:.0f}" for phase, mb in list(_peaks.items()))
    print(f"RSS_PEAKS {peaks} | VmHWM {_status('VmHWM:'):.0f} MB", file=sys.stderr)


if __name__ == "__main__":
    run_context.RunContext.phase = _marked(run_context.RunContext.phase)
    planner._load_model = _load_marked(planner._load_model)
    threading.Thread(target=_sample, name="rss-sampler", daemon=True).start()
    try:
        code = main(sys.argv[1:])
    finally:
        report()
    sys.exit(code)
