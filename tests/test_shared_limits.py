"""Two syncs writing to one Iterable project share its 5 requests/s, across processes."""

from __future__ import annotations

import subprocess
import sys

from sync_core.demo.workspace import SANDBOX_PROJECT
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
