"""Runs writing to one Iterable project share its limits: two syncs its 5 requests/s, across processes, and
runs dated on other days (the demo's history) its 4 exports a minute."""

from __future__ import annotations

import subprocess
import sys

from sync_core.clock import ManualClock, OffsetClock
from sync_core.demo.workspace import SANDBOX_PROJECT, advance_demo
from demo_helpers import demo_workspace


def test_two_sync_processes_never_exceed_the_project_limit_together(tmp_path):
    with demo_workspace(tmp_path, rate_limits=True, destination_settings="batch_size = 60") as demo:
        mark = demo.sandbox.last_request_id()
        syncs = [subprocess.Popen([sys.executable, "-m", "sync_core.cli", "-w", str(demo.root), "run", sync_id],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for sync_id in ("iterable-production", "iterable-first-namespace")]
        outputs = [p.communicate(timeout=120)[0] for p in syncs]
        assert [p.returncode for p in syncs] == [0, 0], outputs

        writes = demo.sandbox.requests(endpoint="users/bulkUpdate", since_id=mark)
        assert len(writes) > 20  # enough requests for the limit to matter
        assert {r["status"] for r in writes} == {200}  # the client kept under the limit: no 429 to retry
        busiest = demo.sandbox.busiest_second(SANDBOX_PROJECT, endpoint="users/bulkUpdate", since_id=mark)
        assert busiest <= 5
        # Both processes were writing at the same time (their requests interleave).
        first_ids = {r["id"] for r in writes if any(i and "@" not in i for i in r["identifiers"])}
        assert first_ids and min(first_ids) < max(r["id"] for r in writes if r["id"] not in first_ids)


def test_runs_dated_on_earlier_days_still_keep_the_export_limit(tmp_path):
    """`sync-core up` dates its history on simulated days; the limit counts in the destination's time."""
    clock = ManualClock()  # the sandbox's and the client's: it stands still, so five exports are one instant
    with demo_workspace(tmp_path, clock=clock) as demo:  # Iterable's limits: 4 exports a minute
        for day in range(5):
            if day:  # as `sync-core up` builds its history: the product's new users, looked up again each day
                advance_demo(demo.workspace)
            demo.run("iterable-production", dated=OffsetClock(-(4 - day) * 86_400))
        exports = demo.sandbox.requests(endpoint="export/data.json")
    assert [r["status"] for r in exports] == [200] * 5  # the fifth waited on the client's side: no 429
    assert exports[4]["at"] - exports[0]["at"] >= 60
