"""What a reconciliation of any destination object must report once one field of a synced record was changed and
another record deleted behind the sync's back (test_reconcile_users.py, _events.py, _marketo.py set the scene
their vendor's way, then check it with these).

In its own module (not conftest.py) so that tests import it by a name no other conftest.py shadows."""

from __future__ import annotations

import json

from sync_core import StateStore
from sync_core.reconcile import CHANGED_SINCE

BY_HAND = "Changed by hand"  # the value the tests write over a synced field


def assert_one_changed_field_and_one_missing_record(report, *, altered: str, field: str, model_value,
                                                    deleted: str) -> None:
    """Exactly one difference, `field` of `altered` holding BY_HAND where the snapshot says the model's value was
    sent; exactly one record missing, `deleted`; and so the report is complete but not clean."""
    [difference] = report.differences
    assert (difference.key, difference.field) == (altered, field)
    assert difference.model_value == model_value
    assert difference.destination_value == json.dumps(BY_HAND)
    assert difference.state == CHANGED_SINCE  # the snapshot says the model's value was sent
    assert report.missing == [deleted] and report.missing_rows == 1
    assert report.differing_rows == 1 and report.status == "complete" and not report.clean


def assert_every_field_matches_but(report, field: str) -> None:
    """Each field was compared on every record present on both sides, and matched on all of them but `field`,
    which differs on one."""
    for match in report.fields:
        assert match.compared == report.funnel.present
        assert match.matching == report.funnel.present - (match.field == field)


def stored_reconciliation(demo, sync_id: str):
    """The sync's one reconciliation as the state store keeps it, and its rows."""
    with StateStore(demo.workspace.state_path) as store:
        [record] = store.reconciliations(sync_id)
        return record, store.reconciliation_rows(record.id)


def resend(demo, sync_id: str, report):
    """Run the sync again for exactly the report's differing and missing rows (two of them)."""
    run = demo.run(sync_id, only_keys=report.resend_keys())
    assert any("Resend of chosen rows: 2 rows are sent again" in n for n in run.notes), run.notes
    return run
