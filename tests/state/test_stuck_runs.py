"""A run recorded as `running` by a process id that now belongs to another process does not block the sync; a run
whose process cannot be told apart from a live one is cancelled with `sync-core run-cancel`."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from sync_core import StateStore
from sync_core.state.process import host
from sync_core.state.run_log import iso_utc


def start_time(pid: int) -> int:
    """Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot."""
    stat = open(f"/proc/{pid}/stat").read()
    return int(stat[stat.rindex(")") + 2:].split()[19])

from test_damage import cli


def record_running_run(demo, pid: int, started: int | None) -> int:
    """A run left `running` by (pid, process start time), as a crash before a reboot leaves it."""
    db = sqlite3.connect(demo.workspace.state_path)
    with db:
        run_id = db.execute("INSERT INTO runs (sync_id, trigger, status, config_fingerprint, started_at, pid) "
                            "VALUES ('iterable-production', 'cli', 'running', 'f', '2026-01-01T00:00:00+00:00', ?)",
                            (pid,)).lastrowid
        try:
            db.execute("UPDATE runs SET pid_started = ? WHERE id = ?", (started, run_id))
        except sqlite3.OperationalError:  # a sync-core that records no start time
            pass
    db.close()
    return run_id


def test_a_live_process_that_reused_the_runs_pid_does_not_block_the_next_run(demo):
    StateStore(demo.workspace.state_path).close()  # the state store exists
    # This test's process is alive and is no sync; it started at another time than the run recorded.
    stale = record_running_run(demo, os.getpid(), start_time(os.getpid()) - 1)
    done = cli(demo, "run", "iterable-production", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "warning"
    runs = {r["id"]: r for r in json.loads(cli(demo, "runs", "--json").stdout)}
    assert runs[stale]["status"] == "interrupted"


def test_run_cancel_frees_a_sync_whose_run_looks_alive(demo):
    StateStore(demo.workspace.state_path).close()
    # A run recorded before runs kept their process's start time: the pid alone says "alive".
    stuck = record_running_run(demo, os.getpid(), None)
    refused = cli(demo, "run", "iterable-production")
    assert refused.returncode != 0 and "already running" in refused.stderr, refused.stderr
    assert f"sync-core run-cancel {stuck}" in refused.stderr

    asked = cli(demo, "run-cancel", str(stuck), "--yes", "--wait", "1")  # nothing runs it: it cannot stop itself
    assert asked.returncode == 0 and "has not stopped yet" in asked.stdout and f"{stuck} --force" in asked.stdout
    declined = cli(demo, "run-cancel", str(stuck), "--force", stdin="n\n")
    assert declined.returncode == 1 and f"process {os.getpid()} is still running" in declined.stderr
    assert json.loads(cli(demo, "run-show", str(stuck), "--json").stdout)["status"] == "running"

    cancelled = cli(demo, "run-cancel", str(stuck), "--yes", "--force")
    assert cancelled.returncode == 0, cancelled.stderr
    shown = json.loads(cli(demo, "run-show", str(stuck), "--json").stdout)
    assert shown["status"] == "interrupted" and "run-cancel" in shown["error"]
    assert cli(demo, "run", "iterable-production").returncode == 0
    again = cli(demo, "run-cancel", str(stuck), "--yes")
    assert again.returncode == 2 and "not running" in again.stderr


def test_run_cancel_force_does_not_claim_a_run_that_ended_while_it_asked(demo):
    """`--force` waits for a yes; a run that ends meanwhile keeps its ending, and the command says so."""
    StateStore(demo.workspace.state_path).close()
    stuck = record_running_run(demo, os.getpid(), None)
    asking = subprocess.Popen([sys.executable, "-m", "sync_core.cli", "-w", str(demo.root), "run-cancel", str(stuck),
                               "--force"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    question = ""
    while "Continue?" not in question:  # the question is on screen: the command waits for the answer
        question += asking.stderr.read(1) or pytest.fail(f"run-cancel ended without asking: {question}")
    with sqlite3.connect(demo.workspace.state_path) as db:  # meanwhile, the run ends as its process finishes it
        db.execute("UPDATE runs SET status = 'healthy', finished_at = ? WHERE id = ?", (iso_utc(time.time()), stuck))
    out, _ = asking.communicate("y\n", timeout=300)
    assert asking.returncode == 0
    assert f"Run {stuck} ended before it was marked: it is healthy" in out and "marked interrupted" not in out
    assert json.loads(cli(demo, "run-show", str(stuck), "--json").stdout)["status"] == "healthy"


def test_the_cli_judges_a_run_by_its_lease_not_by_a_pid_from_another_host(demo):
    """A worker in another container holds a live lease: its pid names nothing here, and the run still blocks
    the sync. A run of a live process here whose lease lapsed (a hung worker) does not."""
    StateStore(demo.workspace.state_path).close()
    remote = record_running_run(demo, int(open("/proc/sys/kernel/pid_max").read()), 4242)  # no such pid here
    hour = 3600  # leases far from now: the commands take seconds, however busy the machine
    lease(demo, remote, "worker-7 pid:[4026532999]", time.time() + hour)
    refused = cli(demo, "run", "iterable-production")
    assert refused.returncode != 0 and "already running" in refused.stderr and "on worker-7" in refused.stderr
    assert json.loads(cli(demo, "run-show", str(remote), "--json").stdout)["status"] == "running"

    lease(demo, remote, "worker-7 pid:[4026532999]", time.time() - 1)  # the worker stopped renewing
    hung = record_running_run(demo, os.getpid(), start_time(os.getpid()))  # alive, and on this host
    lease(demo, hung, host(), time.time() - hour)
    done = cli(demo, "run", "iterable-production", "--json")
    assert done.returncode == 0, done.stderr
    runs = {r["id"]: r for r in json.loads(cli(demo, "runs", "--json").stdout)}
    assert runs[remote]["status"] == runs[hung]["status"] == "interrupted"


def lease(demo, run_id: int, where: str, expires: float) -> None:
    db = sqlite3.connect(demo.workspace.state_path)
    with db:
        db.execute("UPDATE runs SET host = ?, lease_expires_at = ? WHERE id = ?", (where, iso_utc(expires), run_id))
    db.close()
