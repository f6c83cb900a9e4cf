"""The resend action goes through the run service: a queued request that a worker runs for the reconciliation's
differing and missing rows only."""

from __future__ import annotations

import json
import sqlite3

import pytest

from sync_core import StateStore, history
from sync_core.control import resend_differences
from sync_core.reconcile import ReconcileError, reconcile
from worker_helpers import runs, wait_for, worker

SYNC = "iterable-production"


def test_a_resend_queued_for_a_worker_sends_only_the_rows_found_and_the_next_reconciliation_is_clean(demo):
    path = demo.root / "workspace.toml"  # runs only when asked: as it comes, a worker would run both syncs now
    path.write_text(path.read_text().replace('schedule = "every 24h"', 'schedule = "manual"'))
    demo.run(SYNC)
    key = sorted(demo.snapshot())[3]
    with sqlite3.connect(demo.root / "sandbox" / "iterable.sqlite") as db:
        (fields,) = db.execute("SELECT data_fields FROM users WHERE email = ?", (key.lower(),)).fetchone()
        db.execute("UPDATE users SET data_fields = ? WHERE email = ?",
                   (json.dumps({**json.loads(fields), "country": "Atlantis"}), key.lower()))
    report = reconcile(demo.workspace, SYNC)
    assert [(d.key, d.field) for d in report.differences] == [(key, "country")]
    writes_before = demo.sandbox.requests()[-1]["id"]

    asked = resend_differences(demo.workspace, report.reconciliation_id, trigger="dashboard", requested_by="ops@x.io")
    assert asked.new
    with worker(demo) as w:
        wait_for(lambda: any(r.status != "running" and r.trigger == "dashboard" for r in runs(demo)),
                 "the resend never ran", w)

    [resend] = [r for r in runs(demo) if r.trigger == "dashboard"]
    assert resend.status in ("healthy", "warning"), resend.error
    # It sent chosen rows only: told as such, and not the sync's whole run (the schedule and the Overview's data
    # problems keep counting from the run before it)
    assert resend.resend and resend.kind == "resend of chosen rows" and resend.to_json()["resend"] is True
    with StateStore(demo.workspace.state_path) as store:
        assert history.latest_runs(store)[SYNC].id == resend.id
        assert history.latest_runs(store, whole=True)[SYNC].id < resend.id
    assert demo.stored(since_id=writes_before) == {key.lower()}  # that row only
    assert reconcile(demo.workspace, SYNC).clean


def test_a_clean_reconciliation_has_nothing_to_resend(demo):
    demo.run(SYNC)
    report = reconcile(demo.workspace, SYNC)
    with pytest.raises(ReconcileError, match=f"reconciliation {report.reconciliation_id} of {SYNC} found no "
                                             "differing or missing row"):
        resend_differences(demo.workspace, report.reconciliation_id, trigger="cli", requested_by="me")
    with StateStore(demo.workspace.state_path) as store:
        assert store.open_requests() == []
