"""A small workspace of a few hand-written rows, synced to a real Iterable sandbox on loopback: for tests of
what one row's values, keys or types do to a run (the demo's 1,500 contacts hide single rows).

In its own module (not conftest.py) so that tests import it by a name no other conftest.py shadows."""

from __future__ import annotations

import sqlite3
from contextlib import closing, contextmanager
from pathlib import Path

import duckdb

from sync_core import StateStore, load_workspace, run_sync
from sync_core.sandbox import IterableSandbox, IterableState

from workspace_toml import expected_error, inline_source, iterable, model, sync, workspace

PROJECT, KEY = "small", "small-test-key"


class OneSyncWorkspace:
    """A workspace folder with a DuckDB warehouse `wh.duckdb` and the one sync tests run."""

    def __init__(self, root: Path, sync_id: str):
        self.root, self.sync_id = root, sync_id

    @property
    def workspace(self):
        return load_workspace(self.root)

    def run(self, **kwargs):
        return run_sync(self.workspace, self.sync_id, trigger="test", **kwargs)

    def sql(self, statement: str, params=()) -> list[tuple]:
        with duckdb.connect(str(self.root / "wh.duckdb")) as con:
            return con.execute(statement, list(params)).fetchall()


class Small(OneSyncWorkspace):
    def __init__(self, root: Path, server: IterableSandbox):
        super().__init__(root, "people")
        self.server = server
        self.sandbox: IterableState = server.state

    def user(self, email: str) -> dict | None:
        return self.sandbox.get_user(PROJECT, email=email)

    def create_users(self, *emails: str, **fields) -> None:
        self.sandbox.upsert_users(PROJECT, [{"email": e, "dataFields": dict(fields)} for e in emails])

    def snapshot(self) -> dict[str, str]:
        with StateStore(self.workspace.state_path) as store:
            return {r["key"]: r["row_hash"] for r in store.snapshot_table("people").to_pylist()}

    def rejections(self) -> dict[str, str]:
        """key -> code of the current rejection state."""
        with StateStore(self.workspace.state_path) as store:
            return {r.key: r.code for r in store.rejections(sync_id="people")}

    def causes(self, run_id: int) -> dict[str, int]:
        with StateStore(self.workspace.state_path) as store:
            return {c.code: c.rows for c in store.run_causes(run_id)}

    def state_sql(self, sql: str) -> list[tuple]:
        """Independent SQL over the state store (read-only)."""
        with closing(sqlite3.connect(f"file:{self.workspace.state_path}?mode=ro", uri=True)) as db:
            return db.execute(sql).fetchall()

    def writes_since(self, request_id: int) -> list[dict]:
        return self.sandbox.requests(endpoint="users/bulkUpdate", since_id=request_id)


@contextmanager
def small_workspace(tmp_path: Path, monkeypatch, *, table: str, rows: list[tuple], mappings: list[tuple[str, str]],
                    mode: str = "update", primary_key: str = "email", destination_settings: str = "",
                    sync_settings: str = "", obj: str = "user", match: str = "email"):
    """A workspace whose model is `SELECT * FROM people`, the table `table` (its DuckDB column list) filled with
    `rows`; `mappings` are (column, field) pairs; `obj` the Iterable object, `match` the match column (email, or
    user_id for a userId match). The sandbox starts empty: create users with create_users."""
    root = tmp_path / "small"
    root.mkdir()
    monkeypatch.setenv("SMALL_ITERABLE_KEY", KEY)
    with IterableSandbox(root / "sandbox.sqlite", port=0, rate_limits=False) as server:
        server.state.add_project(PROJECT, KEY, rate_limits=False)
        with duckdb.connect(str(root / "wh.duckdb")) as con:
            con.execute(f"CREATE TABLE people ({table})")
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                con.executemany(f"INSERT INTO people VALUES ({marks})", rows)
        (root / "workspace.toml").write_text(workspace(
            inline_source(),
            iterable(api_key="env:SMALL_ITERABLE_KEY", base_url=server.url, extra=destination_settings),
            model("SELECT * FROM people", primary_key=primary_key),
            sync("people", object=obj, mode=mode, match=("userId" if match == "user_id" else "email", match),
                 mappings=mappings, extra=sync_settings),
            expected_error("people", "NotFound", "update-only")))
        yield Small(root, server)
