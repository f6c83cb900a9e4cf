"""Shared fixtures: a real Iterable sandbox on loopback and demo workspaces wired to it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from sync_core import load_workspace, run_sync
from sync_core.demo.workspace import SANDBOX_PROJECT, init_demo
from sync_core.sandbox import SandboxServer, SandboxState

DEMO_CONTACTS = 1_500


@pytest.fixture
def demo(tmp_path: Path):
    """A fresh demo workspace and its sandbox, serving on a free port (rate limits on, as in real life)."""
    root = tmp_path / "ws"
    state_file = root / "sandbox" / "iterable.sqlite"
    state_file.parent.mkdir(parents=True)
    with SandboxServer(state_file, port=0) as server:
        init_demo(root, contacts=DEMO_CONTACTS, sandbox_port=server.port)
        yield Demo(root, server)


class Demo:
    def __init__(self, root: Path, server: SandboxServer):
        self.root, self.server = root, server
        self.sandbox = SandboxState(root / "sandbox" / "iterable.sqlite")

    @property
    def workspace(self):
        return load_workspace(self.root)

    def run(self, sync_id: str, **kwargs):
        return run_sync(self.workspace, sync_id, trigger="test", **kwargs)

    def warehouse(self, sql: str) -> list[tuple]:
        """Independent SQL over the warehouse (read-only, closed at once)."""
        with duckdb.connect(str(self.root / "warehouse.duckdb"), read_only=True) as con:
            return con.execute(sql).fetchall()

    def users(self) -> list[dict]:
        return self.sandbox.users(SANDBOX_PROJECT)

    def writes_since(self, request_id: int) -> list[dict]:
        return [r for r in self.sandbox.requests(endpoint="users/bulkUpdate", since_id=request_id)]

    def edit_workspace(self, old: str, new: str) -> None:
        path = self.root / "workspace.toml"
        text = path.read_text()
        assert old in text, old
        path.write_text(text.replace(old, new, 1))
