"""A small workspace whose one sync adds Marketo custom activities, against a real Marketo sandbox on loopback:
people in DuckDB, leads and an activity type in the sandbox, the secrets in environment variables."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import duckdb

from sync_core import StateStore, load_workspace, run_sync
from sync_core.sandbox import MarketoSandbox

from marketo_read_back import read_activities

INSTANCE, CLIENT_ID, CLIENT_SECRET = "123-ABC-456", "marketo-client", "marketo-secret-value"
ACTIVITY_TYPE = "namespaceCreated_c"

WORKSPACE = '''
sources.wh = {{ type = "duckdb", path = "wh.duckdb" }}

[destinations.marketo]
type = "marketo"
base_url = "{url}"
client_id = "env:MARKETO_CLIENT_ID"
client_secret = "env:MARKETO_CLIENT_SECRET"
{destination_settings}

[models.people]
source = "wh"
sql = "SELECT * FROM people"
primary_key = "email"

[syncs.activities]
model = "people"
destination = "marketo"
object = "activity"
mode = "insert"
activity_type = "{activity_type}"
match = {{ field = "email", column = "email" }}
mappings = [
  {{ column = "created_at", field = "activityDate" }},
  {{ column = "namespace", field = "primaryAttributeValue" }},
  {{ column = "plan", field = "plan" }},
]

[[syncs.activities.expected_errors]]
code = "NotFound"
reason = "The product creates Marketo leads; this sync only adds activities to them."
'''


class MarketoWorkspace:
    def __init__(self, root: Path, server: MarketoSandbox):
        self.root, self.server, self.sandbox = root, server, server.state

    @property
    def workspace(self):
        return load_workspace(self.root)

    def run(self, **kwargs):
        return run_sync(self.workspace, "activities", trigger="test", **kwargs)

    def sql(self, statement: str, params=()) -> list[tuple]:
        with duckdb.connect(str(self.root / "wh.duckdb")) as con:
            return con.execute(statement, list(params)).fetchall()

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
        (root / "workspace.toml").write_text(WORKSPACE.format(
            url=server.url, activity_type=activity_type, destination_settings=destination_settings))
        yield MarketoWorkspace(root, server)
