"""The CLI around the queue: `syncs` shows each sync's next run (and `--json` its next_run_at and overdue), `queue`
and `withdraw`, `pause` and `resume`, and the choices `run` refuses."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta

from sync_core import StateStore
from small_workspace import small_workspace


def cli(root, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sync_core.cli", "-w", str(root), *args], capture_output=True,
                          text=True, timeout=120)


def test_syncs_queue_withdraw_pause_and_resume(tmp_path, monkeypatch):
    with small_workspace(tmp_path, monkeypatch, table="email VARCHAR, score DOUBLE", rows=[("ana@x.io", 1.0)],
                         mappings=[("score", "score")], sync_settings='schedule = "every 24h"') as s:
        record = s.run()
        [row] = json.loads(cli(s.root, "syncs", "--json").stdout)
        started = datetime.fromisoformat(record.started_at)
        assert row["schedule"] == "every 24h" and row["paused"] is False and row["overdue"] is False
        assert abs(datetime.fromisoformat(row["next_run_at"]) - (started + timedelta(hours=24))) < timedelta(seconds=2)
        text = cli(s.root, "syncs").stdout
        assert "next run" in text and "No worker is running" in text

        as_json = json.loads(cli(s.root, "run", "people", "--enqueue", "--allow-removals", "--json").stdout)
        assert as_json == {"sync": "people", "answer": "queued", "request_id": 1, "run_id": None}
        assert "already queued (request 1)" in cli(s.root, "run", "people", "--enqueue").stdout
        with StateStore(s.workspace.state_path) as store:
            assert store.get_request(1).allow_removals  # the queued run accepts what a guard would block
            store.withdraw(1, "test")

        asked = cli(s.root, "run", "people", "--enqueue", "--dry-run")
        assert asked.returncode == 0 and "queued as request 2" in asked.stdout
        assert "No worker is running: start one with `sync-core worker`" in asked.stderr
        listed = cli(s.root, "queue").stdout
        assert "request 2" in listed and "dry run" in listed and "0 worker(s) running" in listed
        assert "queued (request 2" in cli(s.root, "syncs").stdout
        assert cli(s.root, "withdraw", "2").returncode == 0
        again = cli(s.root, "withdraw", "2")
        assert again.returncode == 2 and "no longer queued (it is withdrawn)" in again.stderr
        assert "Nothing queued." in cli(s.root, "queue").stdout

        assert cli(s.root, "pause", "people").returncode == 0
        [row] = json.loads(cli(s.root, "syncs", "--json").stdout)
        assert row["paused"] is True and row["next_run_at"] is None
        assert "schedule paused by" in cli(s.root, "syncs").stdout
        assert cli(s.root, "resume", "people").returncode == 0
        assert json.loads(cli(s.root, "syncs", "--json").stdout)[0]["paused"] is False

        both = cli(s.root, "run", "people", "--full-resync", "--retry-failed")
        assert both.returncode == 2 and "choose one" in both.stderr
        unknown = cli(s.root, "pause", "peple")
        assert unknown.returncode == 2 and "Did you mean 'people'" in unknown.stderr
