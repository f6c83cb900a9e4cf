"""What a `sync-core run` loads, which every run pays for at its start. Not pandas: pyarrow imports it on its first
conversion of a Python value (0.3 s of CPU and 40 MB in every run, apache/arrow#34994), and no run uses it, so a
run builds its arrays without that probe (sync_core.arrow_values). Nor what other commands need: the worker,
reconciliation, the alerts' channels."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from demo_helpers import demo_workspace

# `sync-core ...` as the CLI runs it, then the modules it had loaded, into the file named by argv[1]
CLI_THEN_MODULES = """\
import json, sys
from sync_core.cli import main
out, args = sys.argv[1], sys.argv[2:]
code = main(args)
with open(out, "w") as f:
    json.dump(sorted(sys.modules), f)
sys.exit(code)
"""


OTHER_COMMANDS = ("sync_core.worker", "sync_core.reconcile", "sync_core.control", "sync_core.alerts.monitor",
                  "sync_core.alerts.channels", "sync_core.history", "sync_core.mqr_report")


def loaded_by(root, tmp_path, *args) -> set[str]:
    out = tmp_path / "modules.json"
    done = subprocess.run([sys.executable, "-c", CLI_THEN_MODULES, str(out), "-w", str(root), *args],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return set(json.loads(out.read_text()))


def test_runs_of_every_demo_sync_load_neither_pandas_nor_other_commands_modules(tmp_path):
    with demo_workspace(tmp_path, rate_limits=False, marketo=True) as demo:
        syncs = [s for s in demo.workspace.syncs]
        assert {"iterable-production", "iterable-first-namespace-events", "iterable-customers-list",
                "marketo-activities"} <= set(syncs)
        for sync_id in syncs:  # a first run of each: look-ups, refusals, events, list members, activities
            loaded = loaded_by(demo.root, tmp_path, "run", sync_id)
            assert "pandas" not in loaded, sync_id
            assert not loaded & set(OTHER_COMMANDS), sync_id
        demo.edit_warehouse("UPDATE marketing_contacts SET deleted_at = now() WHERE email IN "
                            "(SELECT email FROM marketing_contacts WHERE email IS NOT NULL ORDER BY email LIMIT 5)")
        # a rerun: key state and MQR read back, rows removed and retried
        loaded = loaded_by(demo.root, tmp_path, "run", "iterable-production", "--json")
        assert "pandas" not in loaded and "duckdb" in loaded and "pyarrow" in loaded
