"""`sync-core sandbox` serves and prepares every sandbox workspace.toml declares ([sandbox], [sandboxes.NAME])."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import requests

from sync_core import cli
from sync_core.sandbox import IterableState

from sandbox_fixtures import API_KEY, PROJECT


def declare(tmp_path, *names_and_ports) -> None:
    tables = "".join(f'[sandboxes.{name}]\nvendor = "iterable"\nstate = "{name}.db"\nport = {port}\n'
                     f'project = "{PROJECT}"\napi_key = "env:SANDBOX_KEY"\n\n' for name, port in names_and_ports)
    (tmp_path / "workspace.toml").write_text(tables)


def faults_and_project(path) -> tuple[list[str], str | None]:
    state = IterableState(path)
    try:
        return [f["kind"] for f in state.faults()], state.project_for_key(API_KEY)
    finally:
        state.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_every_declared_sandbox_is_prepared_and_faults_go_to_the_one_named(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SANDBOX_KEY", API_KEY)
    declare(tmp_path, ("first", 18765), ("second", 18766))

    assert cli.main(["-w", str(tmp_path), "sandbox", "--no-serve"]) == 0
    assert cli.main(["-w", str(tmp_path), "sandbox", "--no-serve", "--fault", "*:drop"]) == 2
    assert "name it with --name (sandboxes: first, second)" in capsys.readouterr().err
    assert cli.main(["-w", str(tmp_path), "sandbox", "--name", "second", "--no-serve", "--fault", "*:drop"]) == 0

    assert faults_and_project(tmp_path / "first.db") == ([], PROJECT)
    assert faults_and_project(tmp_path / "second.db") == (["drop"], PROJECT)


def test_a_bad_fault_spec_or_an_unknown_name_is_an_error_not_a_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SANDBOX_KEY", API_KEY)
    declare(tmp_path, ("iterable", 18765))

    assert cli.main(["-w", str(tmp_path), "sandbox", "--no-serve", "--fault", "*:explode"]) == 2
    assert cli.main(["-w", str(tmp_path), "sandbox", "--name", "marketo", "--no-serve"]) == 2

    err = capsys.readouterr().err
    assert "unknown fault kind 'explode'" in err and "declares no sandbox 'marketo'" in err
    assert "Traceback" not in err and not (tmp_path / "iterable.db").exists()


def test_sync_core_sandbox_serves_every_declared_sandbox_until_stopped(tmp_path):
    ports = free_port(), free_port()
    declare(tmp_path, ("first", ports[0]), ("second", ports[1]))
    child = subprocess.Popen([sys.executable, "-m", "sync_core.cli", "-w", str(tmp_path), "sandbox"],
                             env={"SANDBOX_KEY": API_KEY, "PATH": ""}, stdout=subprocess.PIPE, text=True)
    try:
        answers = [_answer(port, child) for port in ports]
    finally:
        child.terminate()
        out, _ = child.communicate(timeout=10)
    assert answers == [200, 200]
    assert all(f"Iterable sandbox listening on http://127.0.0.1:{port}" in out for port in ports)
    assert API_KEY not in out


def _answer(port: int, child: subprocess.Popen) -> int | None:
    """The status of an authenticated request, once the sandbox answers (None if the child died or never did)."""
    deadline = time.monotonic() + 60  # only so a broken build fails instead of hanging
    while child.poll() is None and time.monotonic() < deadline:
        try:
            return requests.get(f"http://127.0.0.1:{port}/api/users/getByEmail", params={"email": "a@x.io"},
                                headers={"Api-Key": API_KEY}, timeout=5).status_code
        except requests.ConnectionError:
            time.sleep(0.05)
    return None


def test_a_port_already_in_use_is_said_plainly_not_as_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("SANDBOX_KEY", API_KEY)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        declare(tmp_path, ("iterable", port))
        done = subprocess.run([sys.executable, "-m", "sync_core.cli", "-w", str(tmp_path), "sandbox"],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert f"error: port {port} is already in use, so the Iterable sandbox cannot listen there" in done.stderr
