"""`sync-core reconcile` from a terminal: the report on stdout (text or JSON), progress on stderr, the exit
status saying whether it is clean, and the history."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sync_core.demo.workspace import SANDBOX_PROJECT

SYNC = "iterable-production"


def cli(demo, *args):
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "sync_core.cli", "-w", str(demo.root), *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_reconcile_prints_json_on_stdout_progress_on_stderr_and_exits_1_when_something_differs(demo):
    demo.run(SYNC)
    deleted = sorted(demo.snapshot())[0]
    demo.sandbox.delete_user(SANDBOX_PROJECT, email=deleted.lower())

    done = cli(demo, "reconcile", SYNC, "--json", "--fields", "jobTitle,country")

    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["missing"] == [deleted] and report["status"] == "complete" and not report["clean"]
    assert [f["field"] for f in report["fields"]] == ["jobTitle", "country"]
    assert "query..." in done.stderr and "read..." in done.stderr and "compare..." in done.stderr

    history = cli(demo, "reconcile", SYNC, "--history")
    assert history.returncode == 0
    assert "complete" in history.stdout and "0 differing, 1 missing" in history.stdout


def test_a_clean_reconciliation_exits_0_and_a_bad_sample_is_a_clear_error(demo):
    demo.run(SYNC)
    clean = cli(demo, "reconcile", SYNC)
    assert clean.returncode == 0, clean.stderr
    assert "COMPLETE" in clean.stdout and "normalisation:" in clean.stdout
    assert "phases: query" in clean.stdout and "read" in clean.stdout and "compare" in clean.stdout
    bad = cli(demo, "reconcile", SYNC, "--sample", "0")
    assert bad.returncode == 2
    assert "reconcile iterable-production: --sample must be a positive number of rows" in bad.stderr


def test_resend_from_the_terminal_runs_the_rows_now_or_queues_them(demo):
    demo.run(SYNC)
    deleted = sorted(demo.snapshot())[0]
    demo.sandbox.delete_user(SANDBOX_PROJECT, email=deleted.lower())
    found = json.loads(cli(demo, "reconcile", SYNC, "--json").stdout)

    queued = cli(demo, "reconcile", SYNC, "--resend", str(found["reconciliation_id"]), "--enqueue")
    assert queued.returncode == 0, queued.stderr
    assert "resend of 1 rows queued as request" in queued.stdout
    other = cli(demo, "reconcile", "iterable-first-namespace", "--resend", str(found["reconciliation_id"]))
    assert other.returncode == 2 and f"reconciliation {found['reconciliation_id']} is of {SYNC}" in other.stderr

    now = cli(demo, "reconcile", SYNC, "--resend", str(found["reconciliation_id"]), "--json")
    assert now.returncode == 0, now.stderr
    run = json.loads(now.stdout)
    assert any("Resend of chosen rows: 1 rows are sent again" in n for n in run["notes"])
    assert cli(demo, "reconcile", SYNC).returncode == 0  # clean: the user left the snapshot, expected absent
