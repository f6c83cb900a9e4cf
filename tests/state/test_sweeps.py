"""Sweeps: a run that refused rows again exactly as before writes one row, and every reader of the rejection state
sees those rows as seen again in that run (times_seen, last_seen, last_run_id)."""

from __future__ import annotations

import sqlite3

from sync_core import RunCounts, StateStore, history
from sync_core.clock import ManualClock
from sync_core.history import RowScope
from sync_core.outcomes import RowProblem
from sync_core.state.run_log import iso_utc

SYNC = "x"


def not_found(key: str, row_hash: str = "h1") -> RowProblem:
    return RowProblem(key, "rejected", "NotFound", f"No record was found with lookup for email:{key}", "expected",
                      row_hash)


def run(store: StateStore, clock: ManualClock, *, problems=(), sweep: bool = True, sync_id: str = SYNC) -> int:
    """A run a day: writes its problems, then sweeps (as a run that tried every planned row does)."""
    clock.advance(86_400)
    run_id = store.start_run(sync_id, trigger="test", config_fingerprint="f")
    store.commit_batch(run_id, sync_id, fingerprint="f", problems=problems)
    if sweep:
        store.sweep_rejections(sync_id, run_id)
    store.finish_run(run_id, status="healthy", counts=RunCounts(), phases={}, notes=[])
    return run_id


def states(store: StateStore, sync_id: str = SYNC) -> dict:
    return {r.key: r for r in store.rejections(sync_id=sync_id)}


def test_a_sweep_is_one_row_and_marks_the_untouched_rows_seen(tmp_path):
    clock = ManualClock()
    with StateStore(tmp_path / "s.sqlite", clock=clock) as store:
        first = run(store, clock, problems=[not_found("a@x.io"), not_found("b@x.io")])
        first_seen = iso_utc(clock.now())
        run(store, clock)
        third = run(store, clock)
        swept_at = iso_utc(clock.now())
        run(store, clock, sweep=False)  # stopped early: it did not check the rows again

        for state in states(store).values():
            assert (state.times_seen, state.first_run_id, state.last_run_id) == (3, first, third)
            assert (state.first_seen, state.last_seen) == (first_seen, swept_at)
    db = sqlite3.connect(tmp_path / "s.sqlite")
    assert db.execute("SELECT COUNT(*) FROM rejection_sweeps").fetchone()[0] == 3
    assert db.execute("SELECT times_seen, last_run_id FROM rejections").fetchall() == [(1, first)] * 2


def test_sweeping_a_run_twice_counts_once_and_other_syncs_are_untouched(tmp_path):
    clock = ManualClock()
    with StateStore(tmp_path / "s.sqlite", clock=clock) as store:
        run(store, clock, problems=[not_found("a@x.io")])
        run(store, clock, problems=[not_found("a@x.io")], sync_id="y")
        again = run(store, clock)
        store.sweep_rejections(SYNC, again)
        assert states(store)["a@x.io"].times_seen == 2
        assert states(store, "y")["a@x.io"].times_seen == 1


def test_rewriting_a_row_folds_in_the_sweeps_since_its_last_write(tmp_path):
    clock = ManualClock()
    with StateStore(tmp_path / "s.sqlite", clock=clock) as store:
        run(store, clock, problems=[not_found("a@x.io")])
        run(store, clock)
        run(store, clock)
        changed = run(store, clock, problems=[not_found("a@x.io", "h2")])  # new values, refused again: rewritten
        state = states(store)["a@x.io"]
        assert (state.times_seen, state.last_run_id, state.last_seen) == (4, changed, iso_utc(clock.now()))
        later = run(store, clock)
        assert (states(store)["a@x.io"].times_seen, states(store)["a@x.io"].last_run_id) == (5, later)


def test_a_row_written_after_a_sweep_is_not_counted_by_it(tmp_path):
    clock = ManualClock()
    with StateStore(tmp_path / "s.sqlite", clock=clock) as store:
        run(store, clock, problems=[not_found("a@x.io")])
        newcomer = run(store, clock, problems=[not_found("b@x.io")])
        found = states(store)
        assert (found["a@x.io"].times_seen, found["a@x.io"].last_run_id) == (2, newcomer)
        assert (found["b@x.io"].times_seen, found["b@x.io"].first_run_id) == (1, newcomer)
        # synced, then refused again: a fresh row that none of the earlier sweeps counts
        synced = run(store, clock, sweep=False)
        store.commit_batch(synced, SYNC, fingerprint="f", synced=[("a@x.io", "h1")])
        back = run(store, clock, problems=[not_found("a@x.io", "h3")])
        state = states(store)["a@x.io"]
        assert (state.times_seen, state.first_run_id, state.last_run_id) == (1, back, back)


def test_row_scopes_see_the_swept_runs(tmp_path):
    clock = ManualClock()
    with StateStore(tmp_path / "s.sqlite", clock=clock) as store:
        first = run(store, clock, problems=[not_found("a@x.io")])
        second = run(store, clock, problems=[not_found("b@x.io")])
        swept = run(store, clock)
        swept_at = iso_utc(clock.now())
        third = run(store, clock, problems=[not_found("c@x.io")], sweep=False)
        [cause] = history.current_causes(store, sync_id=SYNC)

        def keys(**scope) -> tuple[list[str], int]:
            row_scope = RowScope(cause.cause_id, sync_id=SYNC, **scope)
            rows = history.cause_rows(store, row_scope)
            return [r.key for r in rows], history.count_cause_rows(store, row_scope)

        assert keys(run_id=first) == (["a@x.io"], 1)
        assert keys(run_id=second) == (["a@x.io", "b@x.io"], 2)
        assert keys(run_id=swept) == (["a@x.io", "b@x.io"], 2)  # only the sweep saw them in that run
        assert keys(run_id=third) == (["c@x.io"], 1)  # that run stopped before its sweep
        assert keys() == (["a@x.io", "b@x.io", "c@x.io"], 3)  # now
        [found] = history.find_record(store, "a@x.io").failing
        assert (found.times_seen, found.last_run_id, found.last_seen) == (3, swept, swept_at)


def test_a_key_held_by_several_rows_of_the_model_is_seen_once_a_run_and_its_rows_all_count(tmp_path):
    """Two rows with one key are two rows of the run's cause, but one key seen once by each run: "times seen"
    counts runs, as the Failed rows page says, not rows."""
    def duplicate() -> RowProblem:
        return RowProblem("dup@x.io", "invalid", "DuplicatePrimaryKey",
                          "Duplicate primary key: email 'dup@x.io' appears in 2 rows of the model", "data")
    clock = ManualClock()
    with StateStore(tmp_path / "s.sqlite", clock=clock) as store:
        for _ in range(3):
            last = run(store, clock, problems=[duplicate(), duplicate()])
        assert states(store)["dup@x.io"].times_seen == 3
        [cause] = store.run_causes(last)
        assert cause.rows == 2
