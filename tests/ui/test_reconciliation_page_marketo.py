"""The Reconciliation page (AppTest) for the demo's Marketo activities sync: offered beside the Iterable syncs, a
reconciliation started here reads the Marketo sandbox in a process of its own, and its report shows the altered
attribute, the deleted activity, and, after a resend, the earlier activity Marketo keeps, counted apart."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

import pytest

from demo_helpers import demo_workspace
from sync_core import StateStore
from sync_core.reconcile import reconcile
from worker_helpers import wait_for

SYNC = "marketo-activities"
PAGE = "pages/reconciliation.py"


@pytest.fixture
def demo(tmp_path):
    with demo_workspace(tmp_path, marketo=True) as d:
        yield d


def alter(demo) -> tuple[str, str]:
    """One synced activity's `plan` changed in the sandbox, another deleted; returns their keys."""
    with StateStore(demo.workspace.state_path) as store:
        guids = store.destination_ids(SYNC)
    altered, deleted = sorted(guids)[:2]
    with closing(sqlite3.connect(demo.root / "sandbox" / "marketo.sqlite")) as db, db:
        (attributes,) = db.execute("SELECT attributes FROM marketo_activities WHERE id = ?",
                                   (int(guids[altered]),)).fetchone()
        changed = [{**a, "value": "Changed by hand"} if a["apiName"] == "plan" else a for a in json.loads(attributes)]
        db.execute("UPDATE marketo_activities SET attributes = ? WHERE id = ?", (json.dumps(changed),
                                                                                 int(guids[altered])))
        db.execute("DELETE FROM marketo_activities WHERE id = ?", (int(guids[deleted]),))
    return altered, deleted


def statuses(demo) -> list[str]:
    with StateStore(demo.workspace.state_path, read_only=True) as store:
        return [r.status for r in store.reconciliations(SYNC)]


def test_a_marketo_reconciliation_started_here_shows_the_altered_attribute_and_the_deleted_activity(
        demo, open_app, clean):
    demo.run(SYNC)
    altered, deleted = alter(demo)
    at = open_app(demo.root, PAGE)
    at.selectbox(key="reconcile_sync").set_value(SYNC).run()
    assert any("No reconciliation of this sync yet" in i.value for i in at.info)

    at.button(key="start_reconciliation").click().run()
    wait_for(lambda: statuses(demo) == ["complete"], "the reconciliation never finished")
    at.run()

    clean(at)
    assert any("Reconciliation 1" in m.value and "complete" in m.value for m in at.markdown)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Differing rows"] == "1" and metrics["Missing in the destination"] == "1"
    assert metrics["Earlier records of synced rows (not compared)"] == "0"
    differing, missing, _ = (d.value for d in at.dataframe)
    assert differing[["key", "field", "destination_value"]].values.tolist() == [[altered, "plan",
                                                                                 '"Changed by hand"']]
    assert missing["key"].tolist() == [deleted]
    assert any("activities of the type 'firstNamespaceCreated_c'" in c.value for c in at.caption)

    at.button(key="resend_1").click().run()  # queued for a worker; here the resend runs at once instead
    assert any("Resend queued as request" in s.value for s in at.success)
    demo.run(SYNC, only_keys=[altered, deleted])
    again = reconcile(demo.workspace, SYNC, requested_by="cli")
    assert again.clean

    reloaded = open_app(demo.root, PAGE)
    reloaded.selectbox(key="reconcile_sync").set_value(SYNC).run()
    clean(reloaded)
    metrics = {m.label: m.value for m in reloaded.metric}
    assert metrics["Differing rows"] == "0" and metrics["Earlier records of synced rows (not compared)"] == "1"
    past = reloaded.dataframe[-1].value
    assert past["reconciliation"].tolist() == [2, 1] and past["differing change"].tolist()[0] == -1
