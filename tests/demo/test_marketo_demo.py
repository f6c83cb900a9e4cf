"""The demo's Marketo sync: every seed sync the demo enables runs and its counts add up; the Marketo sandbox then
holds one activity per synced key with the synced values, read back through its activities endpoint, and the
snapshot keeps each activity's marketoGUID."""

from __future__ import annotations

from datetime import datetime, timezone

from sync_core import StateStore, invariant_violations
from sync_core.demo.workspace import MARKETO_ACTIVITY_TYPE, MARKETO_INSTANCE
from sync_core.mqr_report import mqr_report
from sync_core.sandbox import MarketoState

from demo_helpers import demo_workspace
from marketo_read_back import read_activities


def read_back(workspace) -> list[dict]:
    """Every activity of the demo's type, through the sandbox's HTTP: token, paging token, pages."""
    sandbox = workspace.sandboxes["marketo"]
    secret = sandbox.api_key.resolve(workspace.root)
    client_id, _, client_secret = secret.partition(":")
    url = f"http://127.0.0.1:{sandbox.port}"
    state = MarketoState(sandbox.state)
    try:
        type_id = next(t.id for t in state.activity_types(MARKETO_INSTANCE) if t.api_name == MARKETO_ACTIVITY_TYPE)
    finally:
        state.close()
    return read_activities(url, client_id, client_secret, type_id)


def test_every_demo_sync_runs_and_marketo_holds_one_activity_per_synced_key(tmp_path):
    with demo_workspace(tmp_path, rate_limits=False, marketo=True) as demo:
        workspace = demo.workspace
        assert "marketo-activities" in workspace.syncs
        records = {sync_id: demo.run(sync_id) for sync_id in workspace.syncs}

        for sync_id, record in records.items():
            assert record.status in ("healthy", "warning"), (sync_id, record.error)
            assert invariant_violations(record.counts.as_dict()) == [], sync_id
        marketo = records["marketo-activities"].counts
        assert marketo.outcome("synced") > 0 and marketo.outcome("rejected_expected") > 0  # leads the product made
        # Its expected rejections are people with no lead: the MQR page says what querying only leads would save
        with StateStore(workspace.state_path) as store:
            report = mqr_report(workspace, store, datetime.now(timezone.utc).date())
        [line] = [line for line in report.by_sync if line.sync_id == "marketo-activities"]
        assert line.unproductive >= marketo.outcome("rejected_expected")
        assert "restricting model `first_namespace` to records that exist in Marketo would save up to" in line.saving

        activities = read_back(workspace)
        with StateStore(workspace.state_path) as store:
            guids = store.destination_ids("marketo-activities")
        assert len(activities) == len(guids) == marketo.outcome("synced")  # one per synced key, no more
        assert {a["marketoGUID"] for a in activities} == set(guids.values())
        by_guid = {a["marketoGUID"]: a for a in activities}
        expected = dict(((email or "").lower(), (name, plan)) for email, name, plan in demo.warehouse(
            "SELECT c.email, n.name, n.plan FROM marketing_contacts c JOIN namespaces n ON n.created_by_user_id ="
            " c.user_id QUALIFY ROW_NUMBER() OVER (PARTITION BY c.user_id ORDER BY n.created_at, n.namespace_id) = 1"))
        for key, guid in list(guids.items())[:50]:
            activity = by_guid[guid]
            name, plan = expected[key.lower()]
            assert activity["primaryAttributeValue"] == name
            assert {"name": "plan", "value": plan} in activity["attributes"]
