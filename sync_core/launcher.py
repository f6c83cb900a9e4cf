"""`sync-core up`: the demo in one command. Creates the demo workspace if it is missing (with a first few
days of history), starts its Iterable sandbox and the dashboard, and stops both on Ctrl-C."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from .config import WORKSPACE_FILE, load_workspace
from .demo.workspace import advance_demo, init_demo
from .runner import run_sync

APP = Path(__file__).resolve().parent.parent / "app.py"


def up(root: Path, *, contacts: int, days: int, port: int, observer_factory) -> int:
    root = root.expanduser().resolve()
    fresh = not (root / WORKSPACE_FILE).exists()
    if fresh:
        print(f"Creating the demo workspace in {root} ({contacts:,} contacts)...")
        init_demo(root, contacts=contacts)
    workspace = load_workspace(root)
    children: list[subprocess.Popen] = []
    try:
        if workspace.sandbox is not None:
            children.append(_start_sandbox(root, workspace.sandbox.port))
        if fresh:
            _build_history(workspace, days, observer_factory)
        if not APP.exists():
            print(f"error: the dashboard ({APP}) is not next to the package; install from a checkout "
                  "(pip install -e .)", file=sys.stderr)
            return 2
        print(f"Dashboard: http://localhost:{port}  (Ctrl-C stops the dashboard and the sandbox)")
        app = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
                                "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                               env=dict(os.environ, SYNC_CORE_WORKSPACE=str(root)), cwd=APP.parent)
        children.append(app)
        return app.wait()
    except KeyboardInterrupt:
        print("\nStopping...")
        return 0
    finally:
        for child in reversed(children):
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


def _start_sandbox(root: Path, port: int) -> subprocess.Popen:
    url = f"http://127.0.0.1:{port}/_sandbox/health"
    if _healthy(url):
        raise SystemExit(f"error: something already answers on port {port}: stop it, or change [sandbox] port "
                         f"and destinations.*.base_url in {root / WORKSPACE_FILE}")
    child = subprocess.Popen([sys.executable, "-m", "sync_core.cli", "-w", str(root), "sandbox"],
                             stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if _healthy(url):
            print(f"Iterable sandbox: http://127.0.0.1:{port}")
            return child
        if child.poll() is not None:
            raise SystemExit(f"error: the sandbox stopped at start (exit {child.returncode}); "
                             f"try `sync-core -w {root} sandbox` to see why")
        time.sleep(0.2)
    child.terminate()
    raise SystemExit(f"error: the sandbox did not answer on port {port} within 20 s")


def _healthy(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.RequestException:
        return False


def _build_history(workspace, days: int, observer_factory) -> None:
    """Run every sync once per simulated day, so the dashboard opens on a history."""
    for day in range(days):
        if day:
            summary = advance_demo(workspace)
            print(f"Day {summary.day}: {summary.new_contacts:,} new contacts, {summary.changed_contacts:,} changed, "
                  f"{summary.removed_contacts:,} removed")
        for sync_id in workspace.syncs:
            observer = observer_factory()
            record = run_sync(workspace, sync_id, trigger="demo", observer=observer)
            observer.close()
            c = record.counts.as_dict()
            print(f"  {sync_id}: {record.status}, {c['synced']:,} synced, {c['rejected_expected']:,} expected "
                  f"rejections, {c['rejected_other'] + c['invalid']:,} other")
