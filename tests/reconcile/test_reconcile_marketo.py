"""Reconciliation of the demo's Marketo custom activities against the Marketo sandbox, over real HTTP: what it finds
after the sandbox was altered behind the sync's back, with every count computed independently from the sandbox's
and the warehouse's own state; how a resend repairs it (Marketo appends: the earlier activity stays, counted as a
duplicate); and the read's place in the instance's shared limits and daily quota."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

import pytest

from demo_helpers import demo_workspace
from reconcile_checks import (BY_HAND, assert_every_field_matches_but, assert_one_changed_field_and_one_missing_record,
                              resend)
from sync_core import StateStore
from sync_core.clock import SystemClock
from sync_core.demo.workspace import MARKETO_ACTIVITY_TYPE, MARKETO_INSTANCE
from sync_core.reconcile import NOT_YET_SYNCED, reconcile
from sync_core.sandbox import MarketoState
from worker_helpers import cli

SYNC = "marketo-activities"
FIRST_NAMESPACE = """
    SELECT c.email, n.name, n.plan, n.region FROM marketing_contacts c
    JOIN namespaces n ON n.created_by_user_id = c.user_id WHERE c.deleted_at IS NULL
    QUALIFY ROW_NUMBER() OVER (PARTITION BY c.user_id ORDER BY n.created_at, n.namespace_id) = 1"""


@pytest.fixture
def demo(tmp_path):
    with demo_workspace(tmp_path, marketo=True) as d:
        yield d


def marketo(demo) -> MarketoState:
    return MarketoState(demo.root / "sandbox" / "marketo.sqlite")


def type_id(demo) -> int:
    with closing(marketo(demo)) as state:
        return next(t.id for t in state.activity_types(MARKETO_INSTANCE) if t.api_name == MARKETO_ACTIVITY_TYPE)


def activities(demo) -> list[dict]:
    """Every activity of the sync's type the sandbox holds, from its own state."""
    kind = type_id(demo)
    with closing(marketo(demo)) as state:
        return [a for a in state.activities(MARKETO_INSTANCE) if a["activityTypeId"] == kind]


def guids(demo) -> dict[str, str]:
    with StateStore(demo.workspace.state_path) as store:
        return store.destination_ids(SYNC)


def set_attribute(demo, guid: str, name: str, value) -> None:
    """Change a stored activity's attribute directly in the sandbox's database, as no API call could."""
    with closing(sqlite3.connect(demo.root / "sandbox" / "marketo.sqlite")) as db, db:
        (attributes,) = db.execute("SELECT attributes FROM marketo_activities WHERE id = ?", (int(guid),)).fetchone()
        changed = [{**a, "value": value} if a["apiName"] == name else a for a in json.loads(attributes)]
        db.execute("UPDATE marketo_activities SET attributes = ? WHERE id = ?", (json.dumps(changed), int(guid)))


def delete_activity(demo, guid: str) -> None:
    with closing(sqlite3.connect(demo.root / "sandbox" / "marketo.sqlite")) as db, db:
        assert db.execute("DELETE FROM marketo_activities WHERE id = ?", (int(guid),)).rowcount == 1


def add_stranger_activity(demo) -> None:
    """An activity of the sync's type for a lead no model row names, as another integration would add it."""
    kind = type_id(demo)
    with closing(marketo(demo)) as state:
        [lead] = state.add_leads(MARKETO_INSTANCE, ["stranger@nowhere.example"])
        state.add_activities(MARKETO_INSTANCE, [{
            "leadId": lead, "activityTypeId": kind, "activityDate": "2026-01-01T00:00:00Z",
            "primaryAttributeValue": "elsewhere", "attributes": [{"apiName": "plan", "value": "free"}]}],
            now=(demo.clock or SystemClock()).now())


def test_the_report_finds_the_altered_attribute_the_deleted_activity_and_the_unknown_one_and_a_resend_repairs_it(
        demo):
    first = demo.run(SYNC)
    assert first.status in ("healthy", "warning"), first.error
    named = guids(demo)
    altered, deleted = sorted(named)[:2]
    model = {email: {"plan": plan} for email, _, plan, _ in demo.warehouse(FIRST_NAMESPACE)}
    set_attribute(demo, named[altered], "plan", BY_HAND)
    delete_activity(demo, named[deleted])
    add_stranger_activity(demo)

    report = reconcile(demo.workspace, SYNC)

    assert_one_changed_field_and_one_missing_record(report, altered=altered, field="plan",
                                                    model_value=model[altered]["plan"], deleted=deleted)
    # Counts against the sandbox's own state, computed here.
    held = activities(demo)
    funnel = report.funnel
    assert funnel.destination_records == len(held) == len(named) - 1 + 1
    assert funnel.unknown_to_model == len([a for a in held if a["marketoGUID"] not in named.values()]) == 1
    assert funnel.duplicates == 0
    assert funnel.in_snapshot == len(named) and funnel.present == len(named) - 1
    assert_every_field_matches_but(report, "plan")
    assert any(f"read {len(held)} activities of the type '{MARKETO_ACTIVITY_TYPE}'" in n for n in report.notes)

    # The resend adds one activity per key (Marketo has no update of an activity): the altered one stays in Marketo,
    # an earlier activity of a synced row, counted and not compared; the next reconciliation is clean.
    resend(demo, SYNC, report)
    after = activities(demo)
    assert len(after) == len(held) + 2
    again = reconcile(demo.workspace, SYNC)
    assert again.clean, again.lines()
    assert again.funnel.present == again.funnel.in_snapshot == len(named)
    assert again.funnel.duplicates == 1 and again.funnel.unknown_to_model == 1
    assert again.funnel.destination_records == len(after)
    assert any("1 records read are earlier ones of synced rows" in n for n in again.notes)
    renamed = guids(demo)
    assert renamed[altered] != named[altered] and renamed[deleted] != named[deleted]
    with StateStore(demo.workspace.state_path) as store:
        assert [r.status for r in store.reconciliations(SYNC)] == ["complete", "complete"]


def test_a_model_change_not_yet_synced_is_told_apart_and_sampling_and_fields_narrow_the_comparison(demo):
    demo.run(SYNC)
    key = sorted(guids(demo))[0]
    demo.edit_warehouse("UPDATE namespaces SET plan = 'enterprise-2' WHERE created_by_user_id = (SELECT user_id "
                        "FROM marketing_contacts WHERE email = ?)", [key])

    [difference] = reconcile(demo.workspace, SYNC, fields=["plan", "region"]).differences
    assert (difference.key, difference.field, difference.model_value) == (key, "plan", "enterprise-2")
    assert difference.state == NOT_YET_SYNCED  # the snapshot's hash is not the model's: the run has yet to send it

    sampled = reconcile(demo.workspace, SYNC, sample=50, fields=["region"])
    assert sampled.sample == sampled.funnel.valid_keys == 50 and [m.field for m in sampled.fields] == ["region"]
    assert sampled.clean and sampled.funnel.destination_records == len(activities(demo))


def test_attributes_marketo_lists_under_their_display_names_are_compared_by_api_name(demo):
    demo.run(SYNC)
    with closing(sqlite3.connect(demo.root / "sandbox" / "marketo.sqlite")) as db, db:
        (attributes,) = db.execute("SELECT attributes FROM marketo_activity_types WHERE api_name = ?",
                                   (MARKETO_ACTIVITY_TYPE,)).fetchone()
        shown = [{**a, "name": a["apiName"].title() + " (shown)"} for a in json.loads(attributes)]
        db.execute("UPDATE marketo_activity_types SET attributes = ? WHERE api_name = ?",
                   (json.dumps(shown), MARKETO_ACTIVITY_TYPE))
    key = sorted(guids(demo))[0]
    set_attribute(demo, guids(demo)[key], "region", "Atlantis")

    report = reconcile(demo.workspace, SYNC)

    assert [(d.key, d.field, d.destination_value) for d in report.differences] == [(key, "region", '"Atlantis"')]
    assert all(m.matching == m.compared - (m.field == "region") for m in report.fields)


def test_the_cli_reconciles_resends_and_refuses_a_read_the_quota_would_not_allow(demo):
    demo.run(SYNC)
    deleted = sorted(guids(demo))[0]
    delete_activity(demo, guids(demo)[deleted])

    found = cli(demo, "reconcile", SYNC, "--json", check=False)
    assert found.returncode == 1, found.stderr
    report = json.loads(found.stdout)
    assert report["missing"] == [deleted] and report["status"] == "complete"
    assert report["funnel"]["duplicates"] == 0 and "read..." in found.stderr

    resent = cli(demo, "reconcile", SYNC, "--resend", str(report["reconciliation_id"]))
    assert resent.returncode == 0, resent.stderr
    clean = cli(demo, "reconcile", SYNC)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "COMPLETE" in clean.stdout and "earlier ones of synced rows (not compared) 0" in clean.stdout

    # Other integrations used the day's quota: the read is refused before it starts, with the reset named.
    with closing(marketo(demo)) as state:
        state.set_daily_quota(MARKETO_INSTANCE, 50_000)
        for _ in range(40):
            state.take_daily_call(MARKETO_INSTANCE, SystemClock().now())
    demo.edit_workspace('client_secret = "secrets:sandbox.marketo_client_secret"\n',
                        'client_secret = "secrets:sandbox.marketo_client_secret"\ndaily_quota = 40\n')
    refused = cli(demo, "reconcile", SYNC, check=False)
    assert refused.returncode == 2
    assert "Marketo's daily quota leaves a reconciliation 0 calls today" in refused.stderr
    assert "so nothing was read" in refused.stderr and "midnight US Central" in refused.stderr
