"""The Syncs page (AppTest) over a demo workspace: its buttons ask a real worker (in a thread of this process) for
runs; a double click is one run; a dry run shows its plan; a viewer who is not an operator sees no buttons; a run
in progress shows its phase and progress, and can be cancelled; an overdue sync is called out; without a worker
the page says so and runs nothing."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing, contextmanager

import pytest

from sync_core import StateStore, history, invariant_violations
from sync_core.clock import OffsetClock
from sync_core.worker import Worker
from ui import access
from small_workspace import small_workspace
from worker_helpers import cli, wait_for, worker

SYNC = "iterable-production"


@pytest.fixture
def manual(demo):
    """The demo with its syncs run only when asked (as it comes, both are due at once: a worker would run them)."""
    path = demo.root / "workspace.toml"
    path.write_text(path.read_text().replace('schedule = "every 24h"', 'schedule = "manual"'))
    return demo


@contextmanager
def running_worker(root):
    worker = Worker(root)
    thread = threading.Thread(target=worker.serve, daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=120)


def runs(demo, sync_id: str = SYNC):
    with StateStore(demo.workspace.state_path, read_only=True) as store:
        return store.list_runs(sync_id=sync_id)


def ended(demo, count: int):
    return lambda: len([r for r in runs(demo) if r.status != "running"]) >= count and not _open_requests(demo)


def _open_requests(demo):
    with StateStore(demo.workspace.state_path, read_only=True) as store:
        return store.open_requests()


def ask(at, kind: str) -> str:
    """Click a run button, then Confirm in the box it opens; returns the confirmation's text."""
    at.button(key=f"ask_{kind}").click().run()
    confirmation = next(m.value for m in at.main.markdown if "?**" in m.value)
    at.button(key="confirm_yes").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return confirmation


def test_without_a_worker_the_page_says_how_to_start_one_and_runs_nothing(manual, open_app, clean):
    demo = manual
    at = open_app(demo.root, "pages/syncs.py")
    clean(at)
    assert any("No worker is running" in w.value and f"sync-core -w {demo.root} worker" in w.value for w in at.warning)
    assert at.button(key="ask_run").disabled
    assert _open_requests(demo) == []


def test_run_now_is_one_run_however_often_it_is_clicked_and_the_page_shows_how_it_ended(manual, open_app):
    demo = manual
    with running_worker(demo.root):
        at = open_app(demo.root, "pages/syncs.py")
        text = ask(at, "run")
        assert "Run now?" in text and "sends the rows added or changed since the last run" in text
        assert "queued as request" in at.toast[-1].value
        ask(at, "run")  # the double click: the first request is queued or already running
        assert "already queued" in at.toast[-1].value or "already running" in at.toast[-1].value
        wait_for(ended(demo, 1), "the worker never ran the request")
    [run] = runs(demo)
    assert (run.trigger, run.requested_by) == ("dashboard", "dashboard")
    assert run.status in ("healthy", "warning") and invariant_violations(run.counts.as_dict()) == []

    at = open_app(demo.root, "pages/syncs.py")  # a reload, or a second browser, shows the same
    assert any(f"Latest run {run.id}" in m.value and run.status in m.value for m in at.main.markdown)
    # Told as on Run history's tile: the sync's first run, so every problem it found is its first.
    assert any("No data problems" in m.value or "found by the sync's first run" in m.value for m in at.main.markdown)
    assert any(link.label == f"Run {run.id} details" for link in at.main.get("page_link"))


def test_a_dry_run_shows_its_plan_and_changes_nothing(manual, open_app):
    demo = manual
    with running_worker(demo.root):
        at = open_app(demo.root, "pages/syncs.py")
        assert "without sending anything" in ask(at, "dry_run")
        wait_for(ended(demo, 1), "the dry run never ran")
    [run] = runs(demo)
    assert run.status == "planned" and run.dry_run
    at = open_app(demo.root, "pages/syncs.py")
    shown = {m.label: m.value for m in at.main.metric}
    c = run.counts.as_dict()
    assert shown["Would add"] == f"{c['added']:,}" and c["added"] > 0
    assert shown["New MQR"] == f"{run.mqr_new:,}" and run.mqr_new > 0
    assert any(f"Dry run {run.id}" in m.value for m in at.main.markdown)
    assert not any("Latest run" in m.value for m in at.main.markdown)  # the Overview's latest run is not a dry one
    assert demo.snapshot() == set() and demo.stored() == set(), "a dry run sends and confirms nothing"
    real = demo.run(SYNC)
    assert real.mqr_new == run.mqr_new, "the dry run counted the MQR the run then added"
    demo.run(SYNC, dry_run=True)
    at = open_app(demo.root, "pages/syncs.py")
    assert any(f"Latest run that sent: run {real.id}, {real.status}" in c.value for c in at.main.caption)


@pytest.mark.parametrize("email, may_run", [("ana@example.com", True), ("eve@other.org", False)])
def test_only_operators_see_the_run_buttons_and_their_runs_record_who_asked(manual, open_app, monkeypatch, email,
                                                                             may_run):
    demo = manual
    demo.edit_workspace("[mqr]", '[dashboard]\noperators = ["@example.com"]\n\n[mqr]')
    monkeypatch.setattr(access, "sign_in_configured", lambda: True)
    monkeypatch.setattr(access, "signed_in_email", lambda: email)
    with running_worker(demo.root):
        at = open_app(demo.root, "pages/syncs.py")
        if not may_run:
            assert not [b for b in at.button if b.key and b.key.startswith("ask_")]
            assert any("not an operator" in i.value and "@example.com" in i.value for i in at.info)
            return
        ask(at, "run")
        wait_for(ended(demo, 1), "the worker never ran the request")
    [run] = runs(demo)
    assert run.requested_by == "ana@example.com" and run.trigger == "dashboard"


def test_a_run_in_progress_shows_its_progress_and_can_be_cancelled(manual, open_app):
    demo = manual
    demo.edit_workspace('api_key = "secrets:sandbox.iterable_api_key"\n',
                        'api_key = "secrets:sandbox.iterable_api_key"\nbatch_size = 50\n')
    demo.sandbox.add_fault("users/bulkUpdate", "hold", after=1)
    with running_worker(demo.root):
        at = open_app(demo.root, "pages/syncs.py")
        ask(at, "run")
        assert demo.server.wait_for_held(1, timeout=120)
        at.run()
        [run] = runs(demo)
        assert any(f"Run {run.id} in progress**: run, phase **sync**" in m.value for m in at.main.markdown)
        [bar] = at.main.get("progress")
        settled = re.search(r"([\d,]+) of [\d,]+ planned rows settled", bar.proto.text)
        outcomes = re.search(r"([\d,]+) synced, ([\d,]+) expected, ([\d,]+) real problems", bar.proto.text)
        number = lambda text: int(text.replace(",", ""))  # noqa: E731
        assert sum(map(number, outcomes.groups())) == number(settled.group(1)), bar.proto.text  # they add up
        assert "with an invalid key, not planned" in bar.proto.text  # the demo's invalid keys, said apart
        at.button(key="cancel_run").click().run()

        def released_and_ended():
            demo.server.release_held(drop=False)
            time.sleep(0.4)
            return ended(demo, 1)()
        wait_for(released_and_ended, "the cancelled run never ended")
    [run] = runs(demo)
    assert run.status == "cancelled" and "cancelled by dashboard" in run.error
    assert {k.lower() for k in demo.snapshot()} == demo.stored()


def test_a_sync_overdue_by_more_than_its_schedule_is_called_out_with_its_last_error(demo, open_app):
    demo.run(SYNC, dated=OffsetClock(-50 * 3600))  # its last run, two days ago; it runs every 24 h
    at = open_app(demo.root, "pages/syncs.py")
    alerts = [e.value for e in at.error]
    assert any("Iterable-Production" in a and "due 26 h ago" in a for a in alerts), alerts


def test_the_page_answers_while_a_run_holds_the_write_lock(demo, open_app, clean):
    demo.run(SYNC)
    with closing(sqlite3.connect(demo.workspace.state_path, isolation_level=None)) as db:
        db.execute("BEGIN IMMEDIATE")  # as a long batch commit would
        db.execute("UPDATE runs SET notes = notes")
        at = open_app(demo.root, "pages/syncs.py")
        db.execute("ROLLBACK")
    assert not at.exception
    assert any("Latest run" in m.value for m in at.main.markdown)


def test_a_schedule_a_cli_request_and_the_button_racing_on_one_sync_run_it_one_at_a_time(demo, open_app):
    """The demo's sync is due on its schedule as the worker (a real process) starts; a terminal and the dashboard
    ask for it meanwhile. Each ask while a run is queued or running is answered with that run."""
    demo.edit_workspace('api_key = "secrets:sandbox.iterable_api_key"\n',
                        'api_key = "secrets:sandbox.iterable_api_key"\nbatch_size = 40\n')
    demo.sandbox.add_fault("users/bulkUpdate", "hold", after=1)  # the scheduled run stays in progress
    with worker(demo) as process:  # one sync at a time: the first sync's schedule runs first
        assert demo.server.wait_for_held(1, timeout=120), "the schedule's run never started"
        [scheduled] = runs(demo)
        assert cli(demo, "run", SYNC, "--enqueue").stdout.strip().endswith(f"already running (run {scheduled.id})")
        at = open_app(demo.root, "pages/syncs.py")
        ask(at, "run")
        assert f"already running (run {scheduled.id})" in at.toast[-1].value
        demo.sandbox.clear_faults()
        demo.server.release_held(drop=False)
        wait_for(ended(demo, 1), "the scheduled run never ended", process)
        ask(at, "run")  # now it is a new run
        assert "queued as request" in at.toast[-1].value
        wait_for(ended(demo, 2), "the dashboard's run never ended", process)
    first, second = sorted(runs(demo), key=lambda r: r.id)
    assert (first.trigger, second.trigger) == ("schedule", "dashboard")
    assert first.finished_at <= second.started_at


def test_a_sync_over_a_dbt_model_shows_its_description_owner_and_tests(demo, open_app):
    at = open_app(demo.root, "pages/syncs.py", sync="iterable-first-namespace")
    assert not at.exception, [e.value for e in at.exception]
    shown = "\n".join(m.value for m in at.main.markdown)
    assert "**From dbt** `marketing_contact_namespace_detail` (project `demo_marketing`, view)" in shown
    assert "**Owner** Growth analytics <growth-data@example.com>" in shown
    assert "**dbt tests** `not_null(first_namespace_id)`, `not_null(user_id)`, `unique(user_id)`" in shown
    assert any("one row per person" in c.value for c in at.caption)


def test_pause_resume_and_withdraw_act_on_the_store_and_the_page_says_so(demo, open_app):
    """Without a worker: pausing the schedule stops its next run (and `syncs --json` agrees), resuming brings it
    back, and a request queued from a terminal can be withdrawn from the page."""
    at = open_app(demo.root, "pages/syncs.py")
    assert at.button(key="pause").label == "Pause schedule"
    at.button(key="pause").click().run()
    [row] = [r for r in json.loads(cli(demo, "syncs", "--json").stdout) if r["id"] == SYNC]
    assert row["paused"] is True and row["next_run_at"] is None
    assert any("paused by dashboard" in m.value for m in at.main.markdown)
    assert any("**Next run** none while paused" in m.value for m in at.main.markdown)

    assert at.button(key="pause").label == "Resume schedule"
    at.button(key="pause").click().run()
    [row] = [r for r in json.loads(cli(demo, "syncs", "--json").stdout) if r["id"] == SYNC]
    assert row["paused"] is False and row["next_run_at"] is not None
    assert not any("none while paused" in m.value for m in at.main.markdown)

    cli(demo, "run", SYNC, "--enqueue")
    at.run()
    assert any("queued** (request 1" in i.value and "no worker is running" in i.value for i in at.info)
    at.button(key="withdraw").click().run()
    assert _open_requests(demo) == []
    with StateStore(demo.workspace.state_path, read_only=True) as store:
        assert store.get_request(1).status == "withdrawn"
    assert not any("queued**" in i.value for i in at.info)
    assert runs(demo) == [], "a withdrawn request never runs"


def test_full_resync_and_retry_failed_rows_ask_for_the_run_their_confirmation_describes(manual, open_app):
    demo = manual
    first = demo.run(SYNC)
    with StateStore(demo.workspace.state_path, read_only=True) as store:
        retryable = history.retryable(store, SYNC)
    assert retryable.sendable > 0 and retryable.invalid > 0  # the demo's invalid emails, and its invalid keys
    with running_worker(demo.root):
        at = open_app(demo.root, "pages/syncs.py")
        assert "Sends **every row** of `contacts`" in ask(at, "full_resync")
        wait_for(ended(demo, 2), "the full resync never ran")
        offer = ask(at, "retry_failed")
        assert f"Sends again only the **{retryable.sendable:,} rows** of" in offer
        assert f"The {retryable.invalid:,} rows whose key is missing, repeated or shared cannot be sent" in offer
        wait_for(ended(demo, 3), "the retry never ran")
        at.run()
    resync, retry = sorted((r for r in runs(demo) if r.id != first.id), key=lambda r: r.id)
    assert (resync.full_resync, resync.retry_failed, resync.trigger) == (True, False, "dashboard")
    assert (retry.full_resync, retry.retry_failed, retry.trigger) == (False, True, "dashboard")
    for run in (resync, retry):
        assert run.status in ("healthy", "warning") and invariant_violations(run.counts.as_dict()) == []
    # The full resync sent every row the destination holds again; the retry sent only the rows with real problems
    # it was offered (invalid emails, refused again), none with an invalid key
    assert resync.counts.as_dict()["synced"] == first.counts.as_dict()["synced"] > 0
    c = retry.counts.as_dict()
    assert c["planned"] - c["not_attempted"] == retryable.sendable and c["synced"] == 0
    assert any(f"A retry of the failed rows: {retryable.sendable:,} rows sent again, 0 synced" in m.value
               for m in at.main.markdown)


def test_a_retry_with_no_row_it_could_send_is_not_offered(tmp_path, monkeypatch, open_app):
    rows = [("ana@x.io", 1.0), ("carl@x.io", 3.0), (None, 4.0), ("dup@x.io", 5.0), ("dup@x.io", 6.0)]
    with small_workspace(tmp_path, monkeypatch, table="email VARCHAR, score DOUBLE", rows=rows,
                         mappings=[("score", "score")]) as s:
        s.create_users("ana@x.io")  # carl is not in Iterable: an expected rejection
        s.run()
        with running_worker(s.root):
            at = open_app(s.root, "pages/syncs.py")
            at.button(key="ask_retry_failed").click().run()
            [offer] = [m.value for m in at.main.markdown if "?**" in m.value]
            assert "Nothing to retry" in offer and "The 3 rows whose key is missing, repeated or shared" in offer
            assert at.button(key="confirm_yes").disabled


def test_a_live_workers_heartbeat_shows_and_a_worker_whose_process_died_is_not_running(manual, open_app):
    demo = manual
    register = f"from sync_core import StateStore; StateStore({str(demo.workspace.state_path)!r}).register_worker(1)"
    subprocess.run([sys.executable, "-c", register], check=True, timeout=120)  # a worker row, its process gone
    at = open_app(demo.root, "pages/syncs.py")
    assert any("No worker is running" in w.value for w in at.warning), "a dead worker's fresh heartbeat is no worker"
    assert at.button(key="ask_run").disabled
    with running_worker(demo.root) as live:
        at = open_app(demo.root, "pages/syncs.py")
        assert not any("No worker is running" in w.value for w in at.warning)
        assert any(f"Worker `{live.id}` running (1 sync(s) at a time), last heartbeat" in c.value
                   for c in at.main.caption)
        assert not at.button(key="ask_run").disabled
