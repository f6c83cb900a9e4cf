"""A small workspace whose one sync adds Marketo custom activities, against a real Marketo sandbox on loopback:
people in DuckDB, leads and an activity type in the sandbox, the secrets in environment variables."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import duckdb

from sync_core import StateStore
from sync_core.sandbox import MarketoSandbox

from marketo_read_back import read_activities
from small_workspace import OneSyncWorkspace
from workspace_toml import expected_error, inline_source, marketo, model, sync, workspace

INSTANCE, CLIENT_ID, CLIENT_SECRET = "123-ABC-456", "marketo-client", "marketo-secret-value"
ACTIVITY_TYPE = "namespaceCreated_c"

# Why the syncs here expect NotFound: their leads come from elsewhere.
LEADS_ELSEWHERE = "The product creates Marketo leads; this sync only adds activities to them."


def activity_sync(sync_id: str, activity_type: str, mappings: list[tuple[str, str]]) -> str:
    """A sync adding `activity_type` activities for the people of the model `people`, matched by email."""
    return sync(sync_id, destination="marketo", object="activity", mode="insert", activity_type=activity_type,
                mappings=mappings) + "\n" + expected_error(sync_id, "NotFound", LEADS_ELSEWHERE)



class MarketoWorkspace(OneSyncWorkspace):
    def __init__(self, root: Path, server: MarketoSandbox):
        super().__init__(root, "activities")
        self.server, self.sandbox = server, server.state

    def add_people(self, rows: list[tuple]) -> None:
        """(email, created_at text, namespace, plan) rows."""
        with duckdb.connect(str(self.root / "wh.duckdb")) as con:
            con.executemany("INSERT INTO people VALUES (?, ?, ?, ?)", rows)

    def read_back(self) -> list[dict]:
        """Every activity of the sync's type, through the sandbox's activities endpoint: a paging token from the
        epoch, then pages (some empty) while moreResult is true."""
        type_id = next(t.id for t in self.sandbox.activity_types(INSTANCE) if t.api_name == ACTIVITY_TYPE)
        return read_activities(self.server.url, CLIENT_ID, CLIENT_SECRET, type_id)

    def emails_of(self, activities: list[dict]) -> list[str]:
        leads = self.sandbox.lead_emails(INSTANCE)
        return sorted(leads[a["leadId"]] for a in activities)

    def snapshot_keys(self) -> set[str]:
        with StateStore(self.workspace.state_path) as store:
            return {r["key"] for r in store.snapshot_table("activities").to_pylist()}

    def marketo_guids(self) -> dict[str, str]:
        """key -> marketoGUID, as the snapshot keeps them."""
        with StateStore(self.workspace.state_path) as store:
            return store.destination_ids("activities")

    def rejections(self) -> dict[str, str]:
        with StateStore(self.workspace.state_path) as store:
            return {r.key: r.code for r in store.rejections(sync_id="activities")}


@contextmanager
def marketo_workspace(tmp_path: Path, monkeypatch, *, activity_type: str = ACTIVITY_TYPE,
                      destination_settings: str = "rate_limit_reserve = 0", rate_limits: bool = False,
                      clock=None):
    """The workspace with an empty `people` table, and a sandbox holding the instance and an approved activity
    type with the attribute `plan` (no leads: add them with add_leads)."""
    root = tmp_path / "marketo"
    root.mkdir()
    monkeypatch.setenv("MARKETO_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("MARKETO_CLIENT_SECRET", CLIENT_SECRET)
    with MarketoSandbox(root / "sandbox.sqlite", port=0, rate_limits=rate_limits, clock=clock) as server:
        server.state.add_instance(INSTANCE, CLIENT_ID, CLIENT_SECRET, rate_limits=rate_limits)
        server.state.add_activity_type(INSTANCE, ACTIVITY_TYPE, primary_attribute="namespace", attributes=["plan"])
        with duckdb.connect(str(root / "wh.duckdb")) as con:
            con.execute("CREATE TABLE people (email VARCHAR, created_at VARCHAR, namespace VARCHAR, plan VARCHAR)")
        (root / "workspace.toml").write_text(workspace(
            inline_source(), marketo(base_url=server.url, extra=destination_settings), model("SELECT * FROM people"),
            activity_sync("activities", activity_type, [("created_at", "activityDate"),
                                                        ("namespace", "primaryAttributeValue"), ("plan", "plan")])))
        yield MarketoWorkspace(root, server)
