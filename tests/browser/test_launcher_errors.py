"""`sync-core up` refuses clearly, before creating anything, when a port it needs is taken."""

from __future__ import annotations

import socket
import subprocess
import sys


def test_a_busy_dashboard_port_is_an_error_with_a_next_step(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "sync_core.cli", "-w", str(tmp_path / "ws"), "up",
                               "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert f"port {port} is already in use" in done.stderr and "--port" in done.stderr
    assert not (tmp_path / "ws").exists()
