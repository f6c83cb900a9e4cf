"""A demo workspace wired to real Iterable and Marketo sandboxes on loopback, for tests.

In its own module (not conftest.py) so that tests import it by a name no other conftest.py shadows."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import duckdb

from sync_core import StateStore, load_workspace, run_sync
from sync_core.demo.workspace import SANDBOX_PROJECT, init_demo
from sync_core.sandbox import IterableSandbox, IterableState, MarketoSandbox

DEMO_CONTACTS = 1_500


def kill_at_held_write(server, root: Path, sync_id: str, endpoint: str, k: int, *, drop_held: bool) -> None:
    """Run the sync of the workspace at `root` in a process of its own and SIGKILL it while its write k+1 to
    `endpoint` is held at the sandbox `server` (the writes after the k-th wait); then release the held requests:
    dropped (`drop_held`, as if the dead client's connections were cut) or let through, stored but unrecorded."""
    server.state.add_fault(endpoint, "hold", after=k)
    sync = subprocess.Popen([sys.executable, "-m", "sync_core.cli", "-w", str(root), "run", sync_id],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert server.wait_for_held(1, timeout=60), "the sync never reached batch k+1"
        os.kill(sync.pid, signal.SIGKILL)
        sync.wait(timeout=30)
    finally:
        if sync.poll() is None:
            sync.kill()
        server.state.clear_faults()
        server.release_held(drop=drop_held)


@contextmanager
def demo_workspace(tmp_path: Path, *, rate_limits: bool = True, clock=None, destination_settings: str = "",
                   marketo: bool = False):
    """A demo workspace and its sandboxes. `destination_settings` are TOML lines added to [destinations.iterable]
    (batch_size, timeout_seconds, rate_limits...); `clock` is shared by the sandboxes and the runs. `marketo`:
    with the Marketo sync (the demo's default), which tests of the Iterable syncs leave out."""
    root = tmp_path / "ws"
    state_file = root / "sandbox" / "iterable.sqlite"
    state_file.parent.mkdir(parents=True)
    with IterableSandbox(state_file, port=0, rate_limits=rate_limits, clock=clock) as server, \
            MarketoSandbox(root / "sandbox" / "marketo.sqlite", port=0, rate_limits=rate_limits,
                           clock=clock) as marketo_server:
        init_demo(root, contacts=DEMO_CONTACTS, sandbox_port=server.port, marketo_port=marketo_server.port,
                  marketo=marketo)
        d = Demo(root, server, clock)
        if destination_settings:
            d.edit_workspace('api_key = "secrets:sandbox.iterable_api_key"\n',
                             f'api_key = "secrets:sandbox.iterable_api_key"\n{destination_settings}\n')
        yield d


class Demo:
    def __init__(self, root: Path, server: IterableSandbox, clock=None):
        self.root, self.server, self.clock = root, server, clock
        self.sandbox = IterableState(root / "sandbox" / "iterable.sqlite")

    @property
    def workspace(self):
        return load_workspace(self.root)

    def run(self, sync_id: str, **kwargs):
        kwargs.setdefault("clock", self.clock)
        return run_sync(self.workspace, sync_id, trigger="test", **kwargs)

    def snapshot(self, sync_id: str = "iterable-production") -> set[str]:
        with StateStore(self.workspace.state_path) as store:
            return store.snapshot_keys(sync_id)

    def valid_emails(self) -> set[str]:
        """Keys of the contacts model that are neither null nor duplicated."""
        rows = self.warehouse("SELECT email FROM marketing_contacts WHERE deleted_at IS NULL AND email IS NOT NULL "
                              "GROUP BY email HAVING COUNT(*) = 1")
        return {e for (e,) in rows}

    def stored(self, since_id: int = 0) -> set[str]:
        """Identifiers the sandbox really stored (lower-cased emails), from its own log."""
        return self.sandbox.stored_identifiers(SANDBOX_PROJECT, since_id=since_id)

    def warehouse(self, sql: str) -> list[tuple]:
        """Independent SQL over the warehouse (read-only, closed at once)."""
        with duckdb.connect(str(self.root / "warehouse.duckdb"), read_only=True) as con:
            return con.execute(sql).fetchall()

    def edit_warehouse(self, sql: str, params=()) -> None:
        """A change to the warehouse, as the CRM or the product would make it between runs."""
        with duckdb.connect(str(self.root / "warehouse.duckdb")) as con:
            con.execute(sql, list(params))

    def rejections(self, key: str, sync_id: str = "iterable-production") -> list:
        """The key's current rejection state (empty once it synced)."""
        with StateStore(self.workspace.state_path) as store:
            return store.rejections(sync_id=sync_id, key=key)

    def users(self) -> list[dict]:
        return self.sandbox.users(SANDBOX_PROJECT)

    def writes_since(self, request_id: int) -> list[dict]:
        return [r for r in self.sandbox.requests(endpoint="users/bulkUpdate", since_id=request_id)]

    def kill_after_writes(self, sync_id: str, endpoint: str, k: int) -> None:
        """kill_at_held_write on the Iterable sandbox, the held requests dropped as a dead client's are."""
        kill_at_held_write(self.server, self.root, sync_id, endpoint, k, drop_held=True)

    def edit_workspace(self, old: str, new: str) -> None:
        path = self.root / "workspace.toml"
        text = path.read_text()
        assert old in text, old
        path.write_text(text.replace(old, new, 1))


def sandbox_port() -> int:
    """A free port whose next is free too: `--sandbox-port P` serves Iterable's sandbox on P and Marketo's on P + 1
    (a free P alone left P + 1 to chance: another test's server held it once)."""
    for _ in range(100):
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no two neighbouring free ports on 127.0.0.1")
