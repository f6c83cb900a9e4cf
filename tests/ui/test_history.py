"""sync_core.history, the read-only reports the dashboard shows, checked against SQL over the state store."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone

from sync_core import RunCounts, StateStore
from sync_core import history as reports
from sync_core.history import RowScope, RunFilter


def store(history) -> StateStore:
    return StateStore(history.root / ".sync-state" / "state.sqlite")


def test_runs_filter_by_sync_status_trigger_and_time(history):
    all_runs = history.state_sql("SELECT id, sync_id, started_at FROM runs ORDER BY id DESC")
    with store(history) as s:
        assert [r.id for r in reports.runs(s)] == [i for i, *_ in all_runs]
        only = reports.runs(s, RunFilter(sync_ids=("iterable-first-namespace",)))
        assert [r.id for r in only] == [i for i, sync, _ in all_runs if sync == "iterable-first-namespace"]
        assert reports.runs(s, RunFilter(statuses=("failed",))) == []
        assert reports.runs(s, RunFilter(triggers=("cli",))) == []
        middle = sorted(at for *_, at in all_runs)[2]
        later = reports.runs(s, RunFilter(since=middle))
        assert {r.id for r in later} == {i for i, _, at in all_runs if at >= middle}
        assert {r.id for r in reports.runs(s, RunFilter(until=middle))} == {i for i, _, at in all_runs if at < middle}
        facets = reports.facets(s)
    assert facets.runs == len(all_runs) and facets.triggers == ("test",)
    assert (facets.first_started, facets.last_started) == (min(a for *_, a in all_runs), max(a for *_, a in all_runs))


def test_latest_runs_and_durations(history):
    with store(history) as s:
        latest = reports.latest_runs(s)
        summaries = reports.runs(s)
    assert {k: r.id for k, r in latest.items()} == dict(
        history.state_sql("SELECT sync_id, MAX(id) FROM runs GROUP BY sync_id"))
    assert all(r.duration_seconds == round(sum(r.phases.values()), 3) > 0 for r in summaries)


def test_cause_trend_is_run_causes_per_run(history):
    with store(history) as s:
        points = reports.cause_trend(s, error_class="expected")
    expected = history.state_sql("SELECT rc.run_id, rc.cause_id, rc.rows FROM run_causes rc JOIN causes c "
                                 "ON c.id = rc.cause_id WHERE c.error_class = 'expected' ORDER BY rc.run_id")
    assert sorted((p.run_id, p.cause_id, p.rows) for p in points) == sorted(expected)


def test_a_causes_rows_in_key_order_with_their_count(history):
    [(cause_id, sync_id, n)] = history.state_sql(
        "SELECT cause_id, sync_id, COUNT(*) FROM rejections GROUP BY cause_id, sync_id ORDER BY COUNT(*) DESC LIMIT 1")
    scope = RowScope(cause_id, sync_id=sync_id)
    with store(history) as s:
        first = reports.cause_rows(s, scope, limit=10)
        every = reports.cause_rows(s, scope)
        assert reports.count_cause_rows(s, scope) == n == len(every)
    assert [r.key for r in every] == sorted(r.key for r in every) and every[:10] == first
    assert all(r.first_run_id <= r.last_run_id for r in every)


def test_find_record_by_email_user_id_and_nothing_else(history):
    last = max(r for r, e in history.runs.items() if e.sync_id == "iterable-first-namespace")
    user_id = sorted(history.runs[last].expected_identifiers)[0]
    with store(history) as s:
        story = reports.find_record(s, user_id)
        by_email = reports.find_record(s, story.failing[0].key.upper())
        wildcard = reports.find_record(s, "%")
        underscore = reports.find_record(s, "usr_")
    assert story.found and story.failing[0].message.endswith(f"userId:{user_id}")
    assert {r.sync_id for r in by_email.failing} >= {"iterable-first-namespace"}  # emails match in lower case
    assert not wildcard.found and not underscore.found  # LIKE's wildcards are taken literally


def test_mqr_usage_is_the_periods_distinct_keys(history):
    now = datetime.now(timezone.utc)
    with store(history) as s:
        usage = reports.mqr_usage(s, history.workspace, now)
    [(n,)] = history.state_sql("SELECT COUNT(*) FROM mqr_ledger WHERE period_start = ?",
                               (usage.period_start.isoformat(),))
    assert usage.used == n > 0 and usage.limit == history.workspace.mqr.limit
    # the history's first day, as `up` has it (the day before, if UTC midnight passed as the history was built)
    [(first_run,)] = history.state_sql("SELECT MIN(started_at) FROM runs")
    first_day = datetime.fromisoformat(first_run).date()
    assert first_day - timedelta(days=1) <= usage.period_start <= first_day


def test_run_problems_are_new_against_the_syncs_previous_run(history):
    """A sync's first run has nothing to compare with: all its problems are new. The next ones count as new only
    what the sync's previous run had not found (History.new_problems, by SQL)."""
    with store(history) as s:
        for (run_id, counts) in history.state_sql("SELECT id, counts FROM runs ORDER BY id"):
            found, c = reports.run_problems(s, s.get_run(run_id)), json.loads(counts)
            assert (found.data, found.failed) == (c["invalid"] + c["rejected_other"], c["failed"])
            by_sql = history.new_problems(run_id)
            if by_sql is None:
                assert found.compared_with is None and found.new == found.data > 0
            else:
                assert found.compared_with is not None and found.new == by_sql
                assert found.standing == found.data - found.new


def test_change_stamp_ignores_a_workers_heartbeat_and_follows_every_run(history, tmp_path):
    """The dashboard keys its cached reports on this stamp: a worker beating every 5 s must not empty the cache
    (a new tab would query everything again), and a run starting, progressing or ending must."""
    path = tmp_path / "state.sqlite"
    with sqlite3.connect(history.root / ".sync-state" / "state.sqlite") as source, sqlite3.connect(path) as copy:
        source.backup(copy)

    def stamp():
        with StateStore(path, read_only=True) as reader:  # as the dashboard reads it
            return reports.change_stamp(reader)

    sync_id = next(iter(history.workspace.syncs))
    with StateStore(path) as s:
        before = stamp()
        worker = s.register_worker(1)
        s.worker_heartbeat(worker)
        s.enqueue(sync_id, trigger="dashboard", requested_by="a test")
        assert stamp() == before
        run_id = s.start_run(sync_id, trigger="test", config_fingerprint="f")
        started = stamp()
        assert started != before
        s.set_phase(run_id, "query")
        in_query = stamp()
        assert in_query != started
        s.save_progress(run_id, RunCounts(queried=10, unchanged=10), {"query": 0.1}, [])
        progressed = stamp()
        assert progressed != in_query
        s.finish_run(run_id, status="healthy", counts=RunCounts(queried=10, unchanged=10), phases={"query": 0.1},
                     notes=[])
        assert stamp() not in (before, started, in_query, progressed)
