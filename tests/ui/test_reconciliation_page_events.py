"""The Reconciliation page (AppTest) for the demo's Iterable events sync: it is offered, a reconciliation started
here reads the customEvent export in a process of its own, and the report shows the altered event field with both
values and the missing event."""

from __future__ import annotations

import json
import sqlite3

from sync_core import StateStore
from sync_core.demo.workspace import SANDBOX_PROJECT
from sync_core.destinations.iterable.events import event_id
from worker_helpers import wait_for

SYNC = "iterable-first-namespace-events"
PAGE = "pages/reconciliation.py"


def test_an_events_reconciliation_started_here_reports_the_altered_and_the_missing_event(demo, open_app, clean):
    demo.run(SYNC)
    altered, deleted = sorted(demo.snapshot(SYNC))[:2]
    with sqlite3.connect(demo.root / "sandbox" / "iterable.sqlite") as db:
        (fields,) = db.execute("SELECT data_fields FROM events WHERE id = ?", (event_id(SYNC, altered),)).fetchone()
        db.execute("UPDATE events SET data_fields = ? WHERE id = ?",
                   (json.dumps({**json.loads(fields), "plan": "hand-made"}), event_id(SYNC, altered)))
    assert demo.sandbox.delete_event(SANDBOX_PROJECT, event_id(SYNC, deleted))

    at = open_app(demo.root, PAGE)
    assert any(SYNC in o for o in at.selectbox(key="reconcile_sync").options)  # events can be read back
    at.selectbox(key="reconcile_sync").set_value(SYNC).run()
    at.button(key="start_reconciliation").click().run()

    def finished():
        with StateStore(demo.workspace.state_path, read_only=True) as store:
            return [r.status for r in store.reconciliations(SYNC)] == ["complete"]
    wait_for(finished, "the events reconciliation never finished")

    at.run()
    clean(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Differing rows"] == "1" and metrics["Missing in the destination"] == "1"
    differing, missing, past = (d.value for d in at.dataframe)
    assert differing[["key", "field", "destination_value"]].values.tolist() == [[altered, "plan", '"hand-made"']]
    assert differing["model_value"].tolist() != ["hand-made"]
    assert missing["key"].tolist() == [deleted]
    assert past["reconciliation"].tolist() == [1]
    assert at.get("download_button")
