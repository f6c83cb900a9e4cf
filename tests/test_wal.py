"""Processes that open a new SQLite file at the same moment (two syncs started together on a fresh workspace)."""

from __future__ import annotations

import subprocess
import sys
import time

OPEN_TOGETHER = """
import sys, time
from sync_core import StateStore
from sync_core.ratelimit import Limit, SharedRateLimits
from sync_core.sandbox import IterableState
folder, start = sys.argv[1], float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))  # every process opens at the same moment
SharedRateLimits(folder + "/limits.sqlite", "cred", {"write": Limit(5, 1.0)})
StateStore(folder + "/state.sqlite").close()
IterableState(folder + "/sandbox.sqlite").close()
"""


def test_processes_opening_new_files_together_all_succeed(tmp_path):
    for attempt in range(5):  # a race: without the retry, about one round in five loses it
        folder = tmp_path / str(attempt)
        folder.mkdir()
        start = time.time() + 1.5  # after every interpreter has started
        procs = [subprocess.Popen([sys.executable, "-c", OPEN_TOGETHER, str(folder), str(start)],
                                  stderr=subprocess.PIPE, text=True) for _ in range(8)]
        errors = [p.communicate(timeout=60)[1] for p in procs]
        assert [p.returncode for p in procs] == [0] * 8, "\n".join(e for e in errors if e)
