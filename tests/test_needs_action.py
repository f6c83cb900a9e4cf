"""What the Overview lists under "Needs action", judged without the dashboard: a failed run, new data problems
(not standing ones), an overdue sync, schedules with no worker, the MQR budget, passwords, Marketo quotas; in the
order to act on them, with lines that only inform kept apart from the count."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

from sync_core import RunCounts, StateStore, load_workspace
from sync_core.destinations.marketo.quota import DailyQuota
from sync_core.history import RunProblems
from sync_core.mqr_report import mqr_report
from sync_core.needs_action import ERROR, INFO, WARNING, by_urgency, needs_action
from sync_core.state import RunRecord
from sync_core.sync_status import SyncStatus
from workspace_toml import inline_source, iterable, model, sync, workspace

NOW = datetime(2026, 12, 2, 12, tzinfo=timezone.utc)


def setup(tmp_path):
    (tmp_path / "workspace.toml").write_text(workspace(
        inline_source(), iterable(), model("SELECT * FROM people"),
        sync("alpha", name="Alpha", mappings=[("plan", "plan")], schedule="every 24h"),
        sync("beta", name="Beta", mappings=[("plan", "plan")], schedule="every 24h"),
        sync("gamma", name="Gamma", mappings=[("plan", "plan")])))
    ws = load_workspace(tmp_path)
    with StateStore(ws.state_path) as store:
        report = mqr_report(ws, store, date(2026, 12, 2))
    return ws, report


def run(run_id: int, sync_id: str, status: str, error: str | None = None, real: int = 0) -> RunRecord:
    return RunRecord(run_id, sync_id, "schedule", status, "sync", False, "f", "2026-12-02T06:00:00+00:00",
                     "2026-12-02T06:05:00+00:00", RunCounts(invalid=real), {}, [], error, None)


def status(ws, sync_id: str, last: RunRecord | None, overdue: timedelta | None = None,
           paused: bool = False, whole: RunRecord | None = None) -> SyncStatus:
    """`whole`: the last run that tried every row, when `last` is a retry of failed rows."""
    return SyncStatus(ws.syncs[sync_id], last, whole or last, None, None, paused, None, None, overdue)


def judged(statuses, report, *, workers=("w",), problems=None, passwords=(), quotas=()):
    return needs_action(statuses, list(workers), report,
                        problems_of=lambda r: (problems or {}).get(r.id, RunProblems(0, 0, 0, None)),
                        passwords=list(passwords), quotas=list(quotas), when=lambda iso: iso[11:16])


def test_a_failed_run_comes_first_with_its_errors_first_line_and_the_time_as_the_reader_reads_it(tmp_path):
    ws, report = setup(tmp_path)
    statuses = [status(ws, "gamma", run(3, "gamma", "healthy")),
                status(ws, "alpha", run(1, "alpha", "failed", "Iterable answered 401: bad API key\nmore"))]
    [action] = judged(statuses, report)
    assert (action.kind, action.severity, action.subject, action.run_id) == ("run", ERROR, "Alpha", 1)
    assert action.text == "last run failed (06:05): Iterable answered 401: bad API key"
    assert [s.sync.id for s in by_urgency(statuses)] == ["alpha", "gamma"]


def test_new_data_problems_need_action_and_standing_ones_do_not(tmp_path):
    ws, report = setup(tmp_path)
    statuses = [status(ws, "alpha", run(1, "alpha", "warning", real=50)),
                status(ws, "beta", run(2, "beta", "warning", real=50))]
    problems = {1: RunProblems(50, 1, 0, compared_with=0), 2: RunProblems(50, 0, 0, compared_with=1)}
    [action] = judged(statuses, report, problems=problems)
    assert (action.kind, action.severity, action.sync_id) == ("data_problems", WARNING, "alpha")
    assert action.text == "1 row with data problems new since its previous run (50 in all)."
    first_run = {1: RunProblems(50, 50, 0, compared_with=None)}  # nothing to compare with: not told as new
    assert judged(statuses[:1], report, problems=first_run) == []


def test_an_overdue_sync_and_schedules_without_a_worker(tmp_path):
    ws, report = setup(tmp_path)
    late = status(ws, "alpha", run(1, "alpha", "healthy"), overdue=timedelta(hours=26))
    actions = judged([late, status(ws, "gamma", None)], report, workers=())
    assert [(a.kind, a.severity) for a in actions] == [("overdue", ERROR), ("no_worker", WARNING)]
    assert actions[0].text.startswith("due ") and actions[0].text.endswith("ago, last run healthy")
    manual_only = judged([status(ws, "gamma", None)], report, workers=())
    paused = judged([status(ws, "alpha", None, paused=True)], report, workers=())
    assert manual_only == paused == [], "no schedule waits: a worker is not needed"


def test_the_mqr_budget_passwords_and_quotas_with_the_lines_that_only_inform(tmp_path):
    ws, report = setup(tmp_path)
    over = replace(report, used=report.budget + 1, blocked_runs=[run(9, "beta", "blocked")])
    quota = DailyQuota("marketo", limit=50_000, reserve=0.1, used=49_000, resets_at="2026-12-03T00:00:00-06:00")
    actions = judged([], over, passwords=[("expired", "expired 2 days ago"), ("unknown", "age unknown here")],
                     quotas=[("marketo", quota), ("eu", "daily quota unknown: timeout")])
    assert [(a.kind, a.severity, a.subject) for a in actions] == [
        ("mqr_blocked", ERROR, "MQR budget"), ("mqr_over_budget", ERROR, "MQR"),
        ("password", ERROR, "Snowflake password"), ("password", INFO, "Snowflake password"),
        ("quota", WARNING, "Marketo"), ("quota", INFO, "Marketo eu")]
    assert actions[0].run_id == 9 and "run 9 of beta was stopped" in actions[0].text
    assert "only what is left above the reserve" in actions[4].text
    assert "resets at 00:00 (midnight US Central)" in actions[4].text  # its time as the reader reads times


def test_a_long_error_is_cut_at_a_word_and_two_syncs_of_one_name_are_told_apart(tmp_path):
    (tmp_path / "workspace.toml").write_text(workspace(
        inline_source(), iterable(), model("SELECT * FROM people"),
        sync("users", name="Namespace Sync", mappings=[("plan", "plan")]),
        sync("events", name="Namespace Sync", mappings=[("plan", "plan")], object="event",
             mode="upsert", event_name="signed_up")))
    ws = load_workspace(tmp_path)
    with StateStore(ws.state_path) as store:
        report = mqr_report(ws, store, date(2026, 12, 2))
    error = "Iterable answered 401 BadApiKey: " + "the key is not valid for this project " * 8
    actions = judged([status(ws, "users", run(1, "users", "failed", error)),
                      status(ws, "events", run(2, "events", "failed", "Iterable answered 500"))], report)
    assert [a.subject for a in actions] == ["Namespace Sync (events)", "Namespace Sync (users)"]
    cut = actions[1].text.split("): ", 1)[1]
    kept = cut.removesuffix(" …")
    assert cut.endswith(" …") and len(kept) <= 200 and error.startswith(kept)
    assert error[len(kept)] == " ", "cut between two words, not within one"


def test_a_retry_of_failed_rows_leaves_new_data_problems_needing_action(tmp_path):
    """A retry sends the failed rows again and meets the same problems: they stay new since the sync's previous
    whole run, and the action links to the run that found them."""
    ws, report = setup(tmp_path)
    found = run(4, "alpha", "warning", real=50)
    retry = replace(run(5, "alpha", "warning", real=50), retry_failed=True)
    problems = {4: RunProblems(50, 1, 0, compared_with=3), 5: RunProblems(50, 0, 0, compared_with=4)}
    [action] = judged([status(ws, "alpha", retry, whole=found)], report, problems=problems)
    assert (action.kind, action.run_id) == ("data_problems", 4)
    assert action.text == "1 row with data problems new since its previous run (50 in all)."
    failed_retry = replace(retry, status="failed", error="Iterable answered 401: bad API key")
    actions = judged([status(ws, "alpha", failed_retry, whole=found)], report, problems=problems)
    assert [(a.kind, a.run_id) for a in actions] == [("run", 5), ("data_problems", 4)]
    # A retry after the data was fixed meets none of them: nothing is left to act on
    fixed = replace(retry, status="healthy")
    assert judged([status(ws, "alpha", fixed, whole=found)], report,
                  problems={**problems, 5: RunProblems(0, 0, 0, compared_with=4)}) == []
