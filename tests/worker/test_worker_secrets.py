"""No secret reaches the worker's log, the run's record or the dashboard's log, even when a bug's message
quotes one (an exception can carry a request's headers): the log records are redacted as they are made,
their tracebacks included."""

from __future__ import annotations

import logging
import time

from sync_core import StateStore, runner
from sync_core.secrets import REDACTED, remember
from sync_core.worker import Worker
from small_workspace import KEY, small_workspace


def test_a_logged_traceback_that_quotes_a_secret_shows_it_redacted(caplog):
    secret = "sk-live-0123456789"
    remember(secret)
    log = logging.getLogger("sync_core.some_module")

    def call_vendor(headers):
        raise RuntimeError(f"request failed with headers {headers}")

    try:
        call_vendor({"Api-Key": secret})
    except RuntimeError:
        log.exception("call to %s failed (key %s)", "vendor", secret)
    assert "call to vendor failed (key <redacted>)" in caplog.text
    assert "headers {'Api-Key': '<redacted>'}" in caplog.text  # the exception's line of the traceback
    assert secret not in caplog.text
    assert all(secret not in handler.format(r) for r in caplog.records for handler in [caplog.handler])


def test_a_bug_quoting_the_api_key_in_a_worker_run_leaves_it_out_of_the_log_and_the_run(tmp_path, monkeypatch, caplog):
    with small_workspace(tmp_path, monkeypatch, table="email VARCHAR, plan VARCHAR",
                         rows=[("ana@example.com", "pro")], mappings=[("plan", "plan")]) as small:
        def build_plan_with_a_bug(workspace, sync, *args, **kwargs):
            key = workspace.destinations[sync.destination].api_key.resolve(workspace.root)
            raise RuntimeError(f"unexpected answer to a request with header Api-Key: {key}")

        monkeypatch.setattr(runner, "build_plan", build_plan_with_a_bug)
        with StateStore(small.workspace.state_path) as store:
            request_id = store.enqueue("people", trigger="dashboard", requested_by="ana@example.com").request_id
        worker = Worker(small.root)
        try:
            deadline = time.monotonic() + 120  # a bound on a hang, not a timing assertion
            while worker.store.get_request(request_id).status != "done":
                assert time.monotonic() < deadline, "the request never ended"
                worker.tick()
                time.sleep(0.05)
            request = worker.store.get_request(request_id)
            run = worker.store.get_run(request.run_id)
        finally:
            worker.store.close()
    assert run.status == "failed" and f"Api-Key: {REDACTED}" in run.error
    assert "request" in caplog.text and "Traceback" in caplog.text  # the bug is logged, with its traceback
    assert f"Api-Key: {REDACTED}" in caplog.text
    assert KEY not in caplog.text and KEY not in (request.error or "") and KEY not in run.error
