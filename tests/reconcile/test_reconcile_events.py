"""Reconciliation of Iterable custom events (the demo's `iterable-first-namespace-events`) against the sandbox,
over real HTTP: the customEvent export read back and keyed by event id, after the sandbox was altered behind the
sync's back; every count computed independently from the sandbox's and the warehouse's own state. And the faults
of the read: retried, a read that stays broken is partial, never complete."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from demo_helpers import demo_workspace
from reconcile_checks import (BY_HAND, assert_every_field_matches_but, assert_one_changed_field_and_one_missing_record,
                              resend, stored_reconciliation)
from sync_core.demo.workspace import SANDBOX_PROJECT
from sync_core.destinations.iterable.events import event_id
from sync_core.reconcile import CHANGED_SINCE, ReconcileError, reconcile

SYNC = "iterable-first-namespace-events"
EVENT = "First Namespace Created"
EXPORT = "export/data.json"
# The events model, straight from the warehouse: one row per person, their first namespace.
FIRST_NAMESPACE = """
    SELECT trim(c.email) AS email, n.name, n.created_at FROM marketing_contacts c
    JOIN namespaces n ON n.created_by_user_id = c.user_id WHERE c.deleted_at IS NULL
    QUALIFY row_number() OVER (PARTITION BY c.user_id ORDER BY n.created_at, n.namespace_id) = 1"""


def model_rows(demo) -> dict[str, dict]:
    """The model's valid rows (non-null, unique keys) by key, and every key the model names."""
    rows = demo.warehouse(f"SELECT *, COUNT(*) OVER (PARTITION BY email) FROM ({FIRST_NAMESPACE}) "
                          "WHERE email IS NOT NULL AND email <> ''")
    return {email: {"namespaceName": name, "createdAt": created} for email, name, created, copies in rows
            if copies == 1}


def model_keys(demo) -> set[str]:
    return {e for (e,) in demo.warehouse(f"SELECT email FROM ({FIRST_NAMESPACE}) WHERE email IS NOT NULL")}


def sandbox_events(demo) -> dict[str, dict]:
    """The sync's events as the sandbox holds them (its own state, not the export), by id."""
    return {e["id"]: e for e in demo.sandbox.events(SANDBOX_PROJECT) if e["eventName"] == EVENT}


def edit_event(demo, key: str, sql_set: str, params: tuple) -> None:
    """Change a stored event directly in the sandbox's database, as someone editing Iterable would."""
    with sqlite3.connect(demo.root / "sandbox" / "iterable.sqlite") as db:
        changed = db.execute(f"UPDATE events SET {sql_set} WHERE project = ? AND id = ?",
                             (*params, SANDBOX_PROJECT, event_id(SYNC, key))).rowcount
    assert changed == 1


def set_data_field(demo, key: str, field: str, value) -> None:
    fields = sandbox_events(demo)[event_id(SYNC, key)]["dataFields"]
    edit_event(demo, key, "data_fields = ?", (json.dumps({**fields, field: value}),))


def test_the_report_finds_exactly_the_altered_field_the_deleted_event_and_the_unknown_event(demo):
    demo.run(SYNC)
    synced = sorted(demo.snapshot(SYNC))
    altered, deleted = synced[0], synced[1]
    model = model_rows(demo)
    set_data_field(demo, altered, "namespaceName", BY_HAND)
    assert demo.sandbox.delete_event(SANDBOX_PROJECT, event_id(SYNC, deleted))
    someone = next(u for u in demo.users() if u["userId"])
    answer, _ = demo.sandbox.track_events(SANDBOX_PROJECT, [
        {"userId": someone["userId"], "eventName": EVENT, "id": "made-by-hand", "createdAt": 1_700_000_000,
         "dataFields": {"namespaceName": "not from the model"}},
        {"userId": someone["userId"], "eventName": "Another Event", "id": "another", "dataFields": {}},
    ], now=time.time(), update_only=True)
    assert answer["successCount"] == 2

    report = reconcile(demo.workspace, SYNC)

    assert_one_changed_field_and_one_missing_record(report, altered=altered, field="namespaceName",
                                                    model_value=model[altered]["namespaceName"], deleted=deleted)
    assert "events are matched by id" in report.normalisation  # what the comparison did, stated
    # Counts against the sandbox's own state, computed here: events of the sync's name, keyed by id.
    held = sandbox_events(demo)
    every_model_id = {event_id(SYNC, k) for k in model_keys(demo)}
    funnel = report.funnel
    assert funnel.destination_records == len(held)  # "Another Event" is not the sync's
    assert funnel.unknown_to_model == len(set(held) - every_model_id) == 1
    assert funnel.present == len({event_id(SYNC, k) for k in model} & set(held)) == len(synced) - 1
    assert funnel.valid_keys == len(model) and funnel.in_snapshot == len(synced)
    assert [m.field for m in report.fields] == ["namespaceId", "namespaceName", "plan", "region",
                                                "daysToFirstNamespace", "@eventName", "@createdAt", "@userId"]
    assert_every_field_matches_but(report, "namespaceName")
    _, stored = stored_reconciliation(demo, SYNC)
    assert {(r["kind"], r["key"]) for r in stored} == {("differs", altered), ("missing", deleted)}

    # A resend of exactly those rows re-tracks both events under their ids: the next reconciliation is clean.
    assert report.resend_keys() == sorted([altered, deleted])
    resend(demo, SYNC, report)
    after = sandbox_events(demo)
    assert after[event_id(SYNC, altered)]["dataFields"]["namespaceName"] == model[altered]["namespaceName"]
    assert event_id(SYNC, deleted) in after and len(after) == len(held) + 1  # updated and re-added, none doubled
    again = reconcile(demo.workspace, SYNC)
    assert again.clean, again.lines()
    assert again.funnel.present == len(synced) and again.funnel.unknown_to_model == 1


def test_the_events_own_fields_are_compared_its_time_as_an_instant(demo):
    demo.run(SYNC)
    key = sorted(demo.snapshot(SYNC))[2]
    edit_event(demo, key, "created_at = created_at + 3600", ())
    report = reconcile(demo.workspace, SYNC, fields=["@createdAt", "plan"])
    [difference] = report.differences
    assert (difference.key, difference.field, difference.state) == (key, "@createdAt", CHANGED_SINCE)
    sent = model_rows(demo)[key]["createdAt"]  # a naive TIMESTAMP: UTC
    assert difference.model_value.startswith(sent.strftime("%Y-%m-%d %H:%M:%S"))
    moved = sent.replace(microsecond=0) + timedelta(hours=1)
    assert difference.destination_value == json.dumps(moved.strftime("%Y-%m-%d %H:%M:%S +00:00"))
    assert [m.field for m in report.fields] == ["@createdAt", "plan"]


def test_a_number_stored_as_text_in_an_event_differs_and_says_so(demo):
    demo.run(SYNC)
    key = sorted(demo.snapshot(SYNC))[3]
    number = sandbox_events(demo)[event_id(SYNC, key)]["dataFields"]["daysToFirstNamespace"]
    set_data_field(demo, key, "daysToFirstNamespace", str(number))
    [difference] = reconcile(demo.workspace, SYNC, fields=["daysToFirstNamespace"]).differences
    assert (difference.key, difference.model_value) == (key, str(number))
    assert difference.destination_value == json.dumps(str(number))
    assert difference.note == "a number in the model, text in the destination"


def test_a_sync_never_run_is_refused_with_what_to_do(demo):
    with pytest.raises(ReconcileError, match=f"the sync has never run.*sync-core run {SYNC}"):
        reconcile(demo.workspace, SYNC)


@pytest.fixture
def demo2(tmp_path):
    """Two attempts per request: a fault that outlasts them is met within the export's 4 calls a minute."""
    with demo_workspace(tmp_path, destination_settings="max_attempts = 2") as d:
        yield d


def test_a_rate_limit_answered_once_is_retried_and_the_report_is_complete(demo2):
    demo2.run(SYNC)
    before = demo2.sandbox.requests()[-1]["id"]
    demo2.sandbox.add_fault(EXPORT, "rate_limit", times=1, retry_after=1)
    report = reconcile(demo2.workspace, SYNC)
    assert len(demo2.sandbox.requests(endpoint=EXPORT, since_id=before)) == 2
    assert report.status == "complete" and report.clean
    assert report.funnel.present == len(demo2.snapshot(SYNC))


@pytest.mark.parametrize("kind, params, code", [("server_error", {"status": 503}, "HTTP 503"),
                                                ("rate_limit", {"retry_after": 1}, "RateLimitExceeded")])
def test_a_fault_that_outlasts_the_retries_leaves_a_partial_report_that_claims_nothing_missing(demo2, kind, params,
                                                                                               code):
    demo2.run(SYNC)
    demo2.sandbox.add_fault(EXPORT, kind, **params)
    report = reconcile(demo2.workspace, SYNC)
    assert report.status == "partial" and not report.clean
    assert "failed 2 times" in report.partial_reason and code in report.partial_reason
    assert report.missing == [] and report.missing_rows == 0
    assert any("not in the partial read" in n for n in report.notes)


def test_an_export_cut_off_mid_line_compares_the_whole_lines_and_says_it_is_partial(demo2):
    demo2.run(SYNC)
    demo2.sandbox.add_fault(EXPORT, "malformed")  # every answer: half the body, its last line cut
    report = reconcile(demo2.workspace, SYNC)
    assert report.status == "partial" and "cut off in the middle of a line" in report.partial_reason
    assert 0 < report.funnel.present < len(demo2.snapshot(SYNC))
    assert report.differing_rows == 0 and report.missing_rows == 0


def test_from_the_terminal_the_events_report_is_json_and_the_resend_repairs_it(demo):
    demo.run(SYNC)
    deleted = sorted(demo.snapshot(SYNC))[0]
    demo.sandbox.delete_event(SANDBOX_PROJECT, event_id(SYNC, deleted))
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "sync_core.cli", "-w", str(demo.root), "reconcile", SYNC, *args],
                              capture_output=True, text=True, env=env, timeout=300)

    found = cli("--json", "--fields", "plan,@eventName")
    assert found.returncode == 1, found.stderr
    report = json.loads(found.stdout)
    assert report["missing"] == [deleted] and report["status"] == "complete"
    assert [f["field"] for f in report["fields"]] == ["plan", "@eventName"]
    resent = cli("--resend", str(report["reconciliation_id"]))
    assert resent.returncode == 0, resent.stderr
    assert event_id(SYNC, deleted) in sandbox_events(demo)
    clean = cli()
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "COMPLETE" in clean.stdout and "@createdAt" in clean.stdout


def test_with_names_from_a_column_every_event_is_read_and_a_renamed_event_differs_in_its_name(demo):
    demo.edit_workspace('event_name = "First Namespace Created"', 'event_name_column = "first_namespace_plan"')
    demo.run(SYNC)
    key = sorted(demo.snapshot(SYNC))[0]
    edit_event(demo, key, "event_name = ?", ("Renamed by hand",))

    report = reconcile(demo.workspace, SYNC, fields=["@eventName"])

    [difference] = report.differences
    assert (difference.key, difference.field) == (key, "@eventName")
    assert difference.destination_value == '"Renamed by hand"'
    assert report.missing_rows == 0 and report.funnel.destination_records == demo.sandbox.event_count(SANDBOX_PROJECT)
    assert "every custom event of the project" in report.normalisation
