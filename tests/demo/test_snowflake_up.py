"""`sync-core up --snowflake` as a user runs it, in a process: it writes the Snowflake demo, starts the emulator,
builds the history through Snowpark, opens the dashboard, and on Ctrl-C stops every process it started, the
emulator included (a survivor would hold ports, and CI waits for every process holding its output)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from demo_helpers import sandbox_port
from sync_core import StateStore, load_workspace
from sync_core.snowflake_settings import HEALTH_PATH


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def processes_naming(text: str) -> list[int]:
    """Processes whose command line names `text` (the test's own folder: only what this test started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:  # gone meanwhile
                pass
    return found


def wait_for_line(log: Path, text: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        assert process.poll() is None, f"sync-core up exited ({process.returncode}):\n{log.read_text()}"
        time.sleep(0.5)
    raise AssertionError(f"no {text!r} within {timeout} s:\n{log.read_text()}")


def test_up_snowflake_serves_the_demo_through_the_emulator_and_stops_every_process(tmp_path):
    root = tmp_path / "sf-demo"
    log = tmp_path / "up.log"
    emulator_port = free_port()
    with log.open("w") as out:
        up = subprocess.Popen(
            [sys.executable, "-m", "sync_core.cli", "-w", str(root), "up", "--snowflake", "--contacts", "300",
             "--days", "2", "--port", str(free_port()), "--sandbox-port", str(sandbox_port()),
             "--snowflake-port", str(emulator_port)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_line(log, "Dashboard ready", up, timeout=240)
        text = log.read_text()
        assert f"Snowflake emulator: http://127.0.0.1:{emulator_port}" in text
        health = requests.get(f"http://127.0.0.1:{emulator_port}{HEALTH_PATH}", timeout=5).json()
        assert health["loaded"] == [str(root / "warehouse.duckdb")]
        workspace = load_workspace(root)
        assert workspace.sources["warehouse"].type == "snowflake"
        with StateStore(workspace.state_path) as store:
            runs = store.list_runs(limit=10)
        assert len(runs) == 2 * len(workspace.syncs) and {r.status for r in runs} <= {"healthy", "warning"}, [r.status for r in runs]
        assert sum(r.counts.outcome("synced") for r in runs) > 0

        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=150) == 0, log.read_text()
        assert processes_naming(str(root)) == [], log.read_text()
        try:
            requests.get(f"http://127.0.0.1:{emulator_port}{HEALTH_PATH}", timeout=2)
            raise AssertionError("the emulator still answers after `up` stopped")
        except requests.ConnectionError:
            pass
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
        for pid in processes_naming(str(root)):  # children in sessions of their own, should one survive
            os.kill(pid, signal.SIGKILL)
