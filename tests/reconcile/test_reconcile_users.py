"""Reconciliation of Iterable users against the sandbox: what it finds after the destination was altered behind
the sync's back, with every count computed independently from the sandbox's and the warehouse's own state."""

from __future__ import annotations

import json
import sqlite3

import pytest

from reconcile_checks import (BY_HAND, assert_every_field_matches_but, assert_one_changed_field_and_one_missing_record,
                              resend, stored_reconciliation)
from sync_core import StateStore
from sync_core.demo.workspace import SANDBOX_PROJECT
from sync_core.reconcile import NOT_YET_SYNCED, ReconcileError, reconcile

SYNC = "iterable-production"


def model_rows(demo) -> dict[str, dict]:
    """The valid rows of the contacts model, by email (unique, non-null keys), read straight from DuckDB."""
    rows = demo.warehouse("SELECT email, job_title, lead_score FROM marketing_contacts WHERE deleted_at IS NULL "
                          "AND email IS NOT NULL AND email IN (SELECT email FROM marketing_contacts WHERE deleted_at "
                          "IS NULL GROUP BY email HAVING COUNT(*) = 1)")
    return {e: {"jobTitle": j, "leadScore": s} for e, j, s in rows}


def set_data_field(demo, email: str, field: str, value) -> None:
    """Change a stored field directly in the sandbox's database, as someone editing Iterable would (even to a
    type the API would refuse)."""
    with sqlite3.connect(demo.root / "sandbox" / "iterable.sqlite") as db:
        (fields,) = db.execute("SELECT data_fields FROM users WHERE project = ? AND email = ?",
                               (SANDBOX_PROJECT, email.lower())).fetchone()
        data = json.loads(fields)
        data[field] = value
        db.execute("UPDATE users SET data_fields = ? WHERE project = ? AND email = ?",
                   (json.dumps(data), SANDBOX_PROJECT, email.lower()))


def test_the_report_finds_exactly_the_altered_field_the_deleted_user_and_the_unknown_user(demo):
    demo.run(SYNC)
    synced = sorted(demo.snapshot())
    altered, deleted = synced[0], synced[1]
    model = model_rows(demo)
    set_data_field(demo, altered, "jobTitle", BY_HAND)
    assert demo.sandbox.delete_user(SANDBOX_PROJECT, email=deleted.lower())
    demo.sandbox.upsert_users(SANDBOX_PROJECT, [{"email": "stranger@nowhere.example", "dataFields": {"x": 1}}])

    report = reconcile(demo.workspace, SYNC)

    assert_one_changed_field_and_one_missing_record(report, altered=altered, field="jobTitle",
                                                    model_value=model[altered]["jobTitle"], deleted=deleted)
    # Counts against the sandbox's own state, computed here.
    users = demo.users()
    emails = {u["email"].lower() for u in users if u["email"]}
    every_model_email = {e.strip().lower() for (e,) in demo.warehouse(
        "SELECT email FROM marketing_contacts WHERE deleted_at IS NULL AND email IS NOT NULL")}
    funnel = report.funnel
    assert funnel.destination_records == len(users)
    assert funnel.unknown_to_model == len(emails - every_model_email) == 1
    assert funnel.present == len({e.lower() for e in model} & emails)
    assert funnel.in_snapshot == len(synced)
    assert_every_field_matches_but(report, "jobTitle")
    # It is kept, with its rows, and counted nowhere in the MQR.
    record, stored = stored_reconciliation(demo, SYNC)
    assert record.status == "complete" and record.summary["differing_rows"] == 1
    assert {(r["kind"], r["key"]) for r in stored} == {("differs", altered), ("missing", deleted)}

    # A resend of exactly those rows repairs them: the next reconciliation is clean.
    assert report.resend_keys() == sorted([altered, deleted])
    resend(demo, SYNC, report)
    assert demo.sandbox.get_user(SANDBOX_PROJECT, email=altered.lower())["dataFields"]["jobTitle"] == \
        model[altered]["jobTitle"]
    again = reconcile(demo.workspace, SYNC)
    assert again.clean, again.lines()
    # The deleted user is not re-created (update-only): it left the snapshot, and is now expected absent.
    assert demo.sandbox.get_user(SANDBOX_PROJECT, email=deleted.lower()) is None
    assert again.funnel.in_snapshot == len(synced) - 1
    assert again.not_found_confirmed == report.not_found_confirmed + 1


def test_a_number_stored_as_text_differs_and_says_so(demo):
    demo.run(SYNC)
    model = model_rows(demo)
    key = next(k for k in sorted(demo.snapshot()) if model[k]["leadScore"] is not None)
    set_data_field(demo, key, "leadScore", str(model[key]["leadScore"]))

    report = reconcile(demo.workspace, SYNC, fields=["leadScore"])

    [difference] = report.differences
    assert (difference.key, difference.field) == (key, "leadScore")
    assert difference.destination_value == json.dumps(str(model[key]["leadScore"]))
    assert difference.note == "a number in the model, text in the destination"
    assert [m.field for m in report.fields] == ["leadScore"]


def test_a_model_change_not_yet_synced_is_told_apart_from_a_change_in_the_destination(demo):
    demo.run(SYNC)
    key = sorted(demo.snapshot())[0]
    demo.edit_warehouse("UPDATE marketing_contacts SET job_title = 'Promoted' WHERE email = ?", [key])

    [difference] = reconcile(demo.workspace, SYNC).differences

    assert (difference.key, difference.model_value, difference.state) == (key, "Promoted", NOT_YET_SYNCED)


def test_a_sync_never_run_is_refused_with_what_to_do(demo):
    with pytest.raises(ReconcileError, match=f"the sync has never run.*sync-core run {SYNC}"):
        reconcile(demo.workspace, SYNC)


def test_an_unknown_field_names_the_sync_and_its_fields(demo):
    demo.run(SYNC)
    with pytest.raises(ReconcileError, match="--fields names nope, which the sync does not map .*jobTitle"):
        reconcile(demo.workspace, SYNC, fields=["nope"])


def test_a_model_that_fails_is_recorded_as_a_failed_reconciliation(demo):
    demo.run(SYNC)
    demo.edit_warehouse("ALTER TABLE marketing_contacts RENAME COLUMN job_title TO job_title_gone")
    with pytest.raises(Exception, match="job_title"):
        reconcile(demo.workspace, SYNC)
    with StateStore(demo.workspace.state_path) as store:
        [record] = store.reconciliations(SYNC)
    assert record.status == "failed" and "job_title" in record.error


def test_sampling_compares_only_the_rows_asked_for(demo):
    demo.run(SYNC)
    report = reconcile(demo.workspace, SYNC, sample=50)
    assert report.sample == report.funnel.valid_keys == 50
    assert report.clean
