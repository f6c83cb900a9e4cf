"""The CLI as a user types it: `sync-core` in a subprocess, and its JSON."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from sync_core import StateStore, history, invariant_violations
from sync_core.mqr import current_period_start

RUN_FIELDS = {"id", "sync", "status", "started_at", "finished_at", "config_fingerprint", "counts"}
COUNT_TERMS = {"queried", "invalid", "unchanged", "planned", "added", "changed", "removed", "retried", "synced",
               "rejected_expected", "rejected_other", "failed", "not_attempted"}


def cli(demo, *args, check=True):
    env = dict(os.environ, SYNC_CORE_WORKSPACE=str(demo.root))
    done = subprocess.run([sys.executable, "-m", "sync_core.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_run_then_read_history_as_json(demo):
    shown = cli(demo, "run", "iterable-production")
    assert "Run 1 of iterable-production: WARNING" in shown.stdout
    assert "queried 1,5" in shown.stdout or "queried 1," in shown.stdout

    [run] = json.loads(cli(demo, "runs", "--json").stdout)
    assert RUN_FIELDS <= set(run) and set(run["counts"]) == COUNT_TERMS
    assert invariant_violations(run["counts"]) == []

    detail = json.loads(cli(demo, "run-show", str(run["id"]), "--json").stdout)
    codes = {c["code"]: c for c in detail["causes"]}
    assert codes["NotFound"]["class"] == "expected" and codes["NotFound"]["rows"] == run["counts"]["rejected_expected"]

    failures = json.loads(cli(demo, "failures", "--class", "expected", "--json").stdout)
    assert [f["code"] for f in failures] == ["NotFound"] and len(failures[0]["example_keys"]) == 5
    real = json.loads(cli(demo, "failures", "--run", str(run["id"]), "--class", "data", "--json").stdout)
    assert {f["code"] for f in real} == {"InvalidEmailAddressError", "DuplicatePrimaryKey", "NullPrimaryKey"}
    [duplicates] = [f for f in real if f["code"] == "DuplicatePrimaryKey"]
    assert len(set(duplicates["example_keys"])) == len(duplicates["example_keys"]) > 1  # a key once, not per copy
    shown = cli(demo, "run-show", str(run["id"])).stdout
    assert re.search(r"\d+  data\s+invalid\s+DuplicatePrimaryKey", shown)  # the outcome, as `failures` shows it


def test_dry_run_sends_nothing_and_counts_no_mqr(demo):
    mark = demo.sandbox.last_request_id()
    shown = cli(demo, "run", "iterable-production", "--dry-run", "--json")
    run = json.loads(shown.stdout)
    assert run["status"] == "planned" and run["counts"]["not_attempted"] == run["counts"]["planned"] > 0
    assert demo.sandbox.requests(since_id=mark) == []
    with StateStore(demo.workspace.state_path) as store:
        assert store.snapshot_keys("iterable-production") == set()
        assert store.mqr_usage(current_period_start(1).isoformat()) == {}
    said = cli(demo, "run", "iterable-production", "--dry-run").stdout  # the text says it too
    assert f"MQR: would add {run['mqr_new']:,} records new to the period" in said and run["mqr_new"] > 0
    cli(demo, "run", "iterable-production")
    with StateStore(demo.workspace.state_path) as store:
        assert store.mqr_usage(current_period_start(1).isoformat())["person"] == run["counts"]["queried"] \
            - demo.warehouse("SELECT COUNT(*) FROM marketing_contacts WHERE deleted_at IS NULL AND email IS NULL")[0][0] \
            - demo.warehouse("SELECT COUNT(*) - COUNT(DISTINCT email) FROM marketing_contacts "
                             "WHERE deleted_at IS NULL AND email IS NOT NULL")[0][0]


def test_a_dry_run_is_not_the_syncs_last_run(demo):
    cli(demo, "run", "iterable-production")
    cli(demo, "run", "iterable-production", "--dry-run")
    [production] = [s for s in json.loads(cli(demo, "syncs", "--json").stdout) if s["id"] == "iterable-production"]
    assert (production["last_run"]["id"], production["last_run"]["status"]) == (1, "warning")
    with StateStore(demo.workspace.state_path) as store:
        assert history.latest_runs(store)["iterable-production"].id == 1  # the dashboard's "last runs"
    header, *lines = cli(demo, "runs").stdout.splitlines()
    assert header.split()[-4:] == ["expected", "invalid", "other", "failed"]
    counts = json.loads(cli(demo, "run-show", "1", "--json").stdout)["counts"]
    by_sync = json.loads(cli(demo, "run-show", "iterable-production", "--json").stdout)  # its last run: not the dry run
    assert by_sync["id"] == 1 and by_sync["counts"] == counts
    never = cli(demo, "run-show", "iterable-first-namespace", check=False)
    assert never.returncode == 2 and "has not run yet: `sync-core run iterable-first-namespace`" in never.stderr
    [first] = [line for line in lines if line.split()[0] == "1"]
    assert [int(v.replace(",", "")) for v in first.split()[-4:]] == [
        counts["rejected_expected"], counts["invalid"], counts["rejected_other"], counts["failed"]]


def test_a_failed_run_exits_non_zero(demo):
    (demo.root / ".streamlit" / "secrets.toml").write_text('[sandbox]\niterable_api_key = "wrong"\n')
    done = cli(demo, "run", "iterable-production", check=False)
    assert done.returncode == 1 and "FAILED" in done.stdout and "HTTP 401" in done.stdout
    # No row failed: the run failed as a whole, and `failures` says so rather than "no failures"
    for args, rows in ((["--class", "config"], "No failures of rows"), (["--run", "1"], "Causes (run 1)")):
        shown = cli(demo, "failures", *args).stdout
        assert shown.startswith("Run 1 of iterable-production failed as a whole (config)") and rows in shown
        assert "wrong" not in shown  # the key's value is never printed
    assert "failed as a whole" not in cli(demo, "failures", "--class", "data").stdout


def test_syncs_lists_all_syncs_and_empty_history_says_what_to_do(demo):
    assert "No runs yet" in cli(demo, "runs").stdout
    listing = cli(demo, "syncs").stdout
    assert "iterable-production" in listing and "Iterable - First Namespace Details Sync" in listing
    schedules = {s["id"]: s["schedule"] for s in json.loads(cli(demo, "syncs", "--json").stdout)}
    assert schedules == {"iterable-production": "every 24h", "iterable-first-namespace": "every 24h",
                         "iterable-first-namespace-events": "every 24h", "iterable-customers-list": "every 24h"}


def test_demo_advance_counts_days_as_the_demo_history_does(demo):
    # `sync-core up` calls the warehouse as created day 1 of its history, so the next day is day 2.
    assert cli(demo, "demo", "advance").stdout.startswith("Day 2 of the demo: ")
    assert cli(demo, "demo", "advance").stdout.startswith("Day 3 of the demo")


def test_a_run_whose_output_nobody_reads_any_more_still_runs_to_its_end(demo):
    """`sync-core run SYNC 2>&1 | head -2` in a cron job or a log pipe: the reader gone, the progress and the
    summary are dropped, not the run; the exit code still says how it ended."""
    read, write = os.pipe()
    os.close(read)  # the reader left before the first line: every write meets a broken pipe
    try:
        done = subprocess.run([sys.executable, "-m", "sync_core.cli", "-w", str(demo.root), "run", "iterable-production"],
                              stdout=write, stderr=write, timeout=300)
    finally:
        os.close(write)
    with StateStore(demo.workspace.state_path, read_only=True) as store:
        [record] = store.list_runs(sync_id="iterable-production")
    assert record.status == "warning", record.error  # the demo's invalid rows; not "failed: BrokenPipeError"
    assert record.counts.outcome("synced") > 0
    assert done.returncode == 0


def test_a_renamed_sync_keeps_its_runs_under_its_old_id_and_the_cli_says_so(demo):
    cli(demo, "run", "iterable-production")
    toml = demo.root / "workspace.toml"
    toml.write_text(toml.read_text().replace("syncs.iterable-production", "syncs.iterable-prod"))  # its tables
    shown = cli(demo, "runs", "--sync", "iterable-production")
    assert "iterable-production" in shown.stdout and "no longer has a sync 'iterable-production'" in shown.stderr
    assert "its first run sends every row" in shown.stderr
    listed = cli(demo, "syncs")
    assert "Runs of 'iterable-production', no longer in workspace.toml (last run 1" in listed.stdout
    failures = cli(demo, "failures", "--sync", "iterable-production")
    assert "no longer has a sync" in failures.stderr
    unknown = cli(demo, "runs", "--sync", "iterable-nope", check=False)
    assert unknown.returncode == 2 and "no sync with id 'iterable-nope'" in unknown.stderr


def test_runs_prints_a_long_sync_id_whole_with_the_columns_aligned(demo):
    cli(demo, "run", "iterable-production")
    cli(demo, "run", "iterable-first-namespace-events")
    header, *rows = cli(demo, "runs").stdout.splitlines()
    assert any(" iterable-first-namespace-events " in r for r in rows)
    status_at = header.index("status")
    assert all(r[status_at:].split()[0] in ("healthy", "warning") for r in rows), rows  # each status under its head
