"""The Reconciliation page (AppTest) over a demo workspace whose sandbox was altered behind the sync's back: a
reconciliation started from the page runs in a process of its own, its progress survives a reload, and its
report shows the funnel, the field matches, the differing and missing rows with a CSV download, the history,
and (for operators only) the resend action, which queues a run."""

from __future__ import annotations

import json
import subprocess
import sys
import sqlite3

import pytest
from streamlit.testing.v1.local_script_runner import LocalScriptRunner

from sync_core import StateStore
from sync_core.demo.workspace import SANDBOX_PROJECT
from sync_core.reconcile import reconcile
from ui import access, reconciliation
from ui.formatting import share_text
from html_charts import html_charts
from worker_helpers import wait_for

SYNC = "iterable-production"
PAGE = "pages/reconciliation.py"


def alter(demo) -> tuple[str, str]:
    """One synced user's jobTitle changed in the sandbox, another deleted; returns their keys."""
    altered, deleted = sorted(demo.snapshot())[:2]
    with sqlite3.connect(demo.root / "sandbox" / "iterable.sqlite") as db:
        (fields,) = db.execute("SELECT data_fields FROM users WHERE email = ?", (altered.lower(),)).fetchone()
        db.execute("UPDATE users SET data_fields = ? WHERE email = ?",
                   (json.dumps({**json.loads(fields), "jobTitle": "Changed by hand"}), altered.lower()))
    demo.sandbox.delete_user(SANDBOX_PROJECT, email=deleted.lower())
    return altered, deleted


def reconciliations(demo):
    with StateStore(demo.workspace.state_path, read_only=True) as store:
        return store.reconciliations(SYNC)


def test_a_reconciliation_started_here_runs_in_the_background_and_its_report_shows_what_differs(demo, open_app,
                                                                                                 clean):
    demo.run(SYNC)
    altered, deleted = alter(demo)
    demo.sandbox.add_fault("export/data.json", "hold", times=1)  # its read waits, so the page sees it running
    at = open_app(demo.root, PAGE)
    assert any("No reconciliation of this sync yet" in i.value for i in at.info)
    at.button(key="start_reconciliation").click().run()
    try:
        assert demo.server.wait_for_held(1, timeout=120), "the reconciliation never read the destination"
        reloaded = open_app(demo.root, PAGE)  # a reload (or a second browser) shows it running
        assert any("Reconciliation 1 is running" in i.value and "Reading the destination's records back" in i.value
                   for i in reloaded.info)
        assert not any("No reconciliation of this sync yet" in i.value for i in reloaded.info)  # not both at once
    finally:
        demo.server.release_held(drop=False)
    wait_for(lambda: [r.status for r in reconciliations(demo)] == ["complete"], "it never finished")

    at.run()
    clean(at)
    assert any("Reconciliation 1" in m.value and "complete" in m.value for m in at.markdown)
    funnel, fields = html_charts(at)  # the funnel and the field matches
    summary = reconciliations(demo)[0].summary
    assert {r["label"]: r["value"] for r in funnel["rows"]} == {
        "Model rows": summary["funnel"]["model_rows"], "Valid keys": summary["funnel"]["valid_keys"],
        "In the snapshot": summary["funnel"]["in_snapshot"], "Present in the destination": summary["funnel"]["present"]}
    assert {r["label"]: r["value"] for r in fields["rows"]} == {
        m["field"]: 100 * m["matching"] / m["compared"] for m in summary["fields"]}
    assert fields["rows"][[r["label"] for r in fields["rows"]].index("jobTitle")]["value"] < 100  # the one altered
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Differing rows"] == "1" and metrics["Missing in the destination"] == "1"
    differing, missing, past = (d.value for d in at.dataframe)  # in the page's order
    assert differing[["key", "field", "destination_value"]].values.tolist() == [
        [altered, "jobTitle", '"Changed by hand"']]
    assert differing["state"].tolist() == ["changed in the destination since"]
    assert missing["key"].tolist() == [deleted]
    assert at.get("download_button")
    assert past["reconciliation"].tolist() == [1]
    assert past["error"].tolist() == [""]  # blank, not the word None

    at.button(key="resend_1").click().run()  # an operator (no sign-in: the local dashboard is one)
    assert any("Resend queued as request" in s.value for s in at.success)
    with StateStore(demo.workspace.state_path, read_only=True) as store:
        [request] = store.open_requests()
        assert store.resend_of(request.id) == 1 and request.requested_by == "dashboard"


@pytest.mark.parametrize("email, may_act", [("ana@example.com", True), ("eve@other.org", False)])
def test_only_operators_may_start_a_reconciliation_or_resend(demo, open_app, monkeypatch, email, may_act):
    """A reconciliation reads the whole destination, spending the vendor's calls the runs share: a signed-in
    viewer who is not an operator starts none."""
    demo.edit_workspace("[mqr]", '[dashboard]\noperators = ["@example.com"]\n\n[mqr]')
    monkeypatch.setattr(access, "sign_in_configured", lambda: True)
    monkeypatch.setattr(access, "signed_in_email", lambda: email)
    demo.run(SYNC)
    alter(demo)
    reconcile(demo.workspace, SYNC, requested_by="cli")
    at = open_app(demo.root, PAGE)
    assert bool([b for b in at.button if b.key == "resend_1"]) is may_act
    assert bool([b for b in at.button if b.key == "start_reconciliation"]) is may_act
    if not may_act:
        assert any("not an operator" in c.value for c in at.caption)


def test_a_sync_that_never_ran_says_to_run_it_first_and_offers_no_start(demo, open_app, clean):
    at = open_app(demo.root, PAGE)
    clean(at)
    [info] = at.info
    assert "has never run" in info.value and f"sync-core -w {demo.root} run {SYNC}" in info.value
    assert not [b for b in at.button if b.key == "start_reconciliation"]


def test_a_failed_reconciliation_shows_its_error_in_the_report_and_the_history(demo, open_app):
    demo.run(SYNC)
    demo.edit_warehouse("ALTER TABLE marketing_contacts RENAME COLUMN job_title TO job_title_gone")
    with pytest.raises(Exception):
        reconcile(demo.workspace, SYNC, requested_by="cli")
    at = open_app(demo.root, PAGE)
    assert not at.exception, [e.value for e in at.exception]
    assert any("job_title" in e.value for e in at.error)
    [past] = [d.value for d in at.dataframe]
    assert past["status"].tolist() == ["failed"]


def fragment_paces(monkeypatch) -> list[list[float]]:
    """Per script run of the app, the intervals (s) its fragments asked to be redrawn at (Streamlit's auto-rerun
    messages to the browser), read from AppTest's message queue."""
    paces: list[list[float]] = []
    sent = LocalScriptRunner.forward_msgs

    def recording(runner):
        messages = sent(runner)
        paces.append([m.auto_rerun.interval for m in messages if m.HasField("auto_rerun")])
        return messages
    monkeypatch.setattr(LocalScriptRunner, "forward_msgs", recording)
    return paces


def test_the_progress_panel_idles_while_no_reconciliation_runs(demo, open_app, monkeypatch):
    """An open tab costs the server a redraw of the progress panel every 2 s only while a reconciliation runs;
    one started elsewhere (the CLI, another tab) shows at that pace, and once it ended the panel idles again."""
    paces = fragment_paces(monkeypatch)
    demo.run(SYNC)
    at = open_app(demo.root, PAGE)
    assert paces[-1] == [reconciliation.IDLE_EVERY]
    with StateStore(demo.workspace.state_path) as store:  # as `sync-core reconcile` records it (this process)
        running = store.start_reconciliation(SYNC, requested_by="cli")
    at.run()
    assert any(f"Reconciliation {running} is running" in i.value for i in at.info)
    assert paces[-1] == [reconciliation.LIVE_EVERY]
    with StateStore(demo.workspace.state_path) as store:
        store.finish_reconciliation(running, status="failed", error="stopped by the test")
    at.run()
    assert not any("is running" in i.value for i in at.info) and any("stopped by the test" in e.value for e in at.error)
    assert paces[-1] == [reconciliation.IDLE_EVERY]


def test_a_reconciliation_whose_process_died_shows_interrupted_and_another_may_start(demo, open_app):
    """`sync-core reconcile` killed (or the machine restarted) leaves its record `running`; the page reads it as
    interrupted, with why, and offers a new start, instead of showing it running for ever with the button off."""
    demo.run(SYNC)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with StateStore(demo.workspace.state_path) as store:  # as the killed process recorded it
        dead = store.start_reconciliation(SYNC, requested_by="cli")
    with sqlite3.connect(demo.workspace.state_path) as db:
        db.execute("UPDATE reconciliations SET pid = ?, pid_started = NULL WHERE id = ?", (gone.pid, dead))
    at = open_app(demo.root, PAGE)
    assert not any("is running" in i.value for i in at.info)
    assert any("its process ended before it finished" in e.value for e in at.error)
    [start] = [b for b in at.button if b.key == "start_reconciliation"]
    assert not start.disabled
    [past] = [d.value for d in at.dataframe]
    assert past["status"].tolist() == ["interrupted"]
    with StateStore(demo.workspace.state_path) as store:  # and the next start records it so
        assert store.start_reconciliation(SYNC, requested_by="cli") != dead
        assert store.reconciliation(dead).status == "interrupted"


def test_a_funnel_share_reads_100_percent_only_when_every_row_is_there():
    assert [share_text(n, 10_279) for n in (10_279, 10_249, 10_278, 9_000, 20, 1, 0)] == [
        "100%", "99.7%", "99.99%", "88%", "0.2%", "0.01%", "0%"]
