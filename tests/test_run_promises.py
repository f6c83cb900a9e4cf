"""What a run promises beyond one row: change guards stop a broken model before it changes anything, a full
resync completes across interruptions, the snapshot only holds what the destination holds, and a run's
status tells standing problems from new ones."""

from __future__ import annotations

import pytest

from small_workspace import PROJECT, small_workspace
from sync_core import StateStore
from sync_core.cli import main as cli
from sync_core.counts import RunCounts
from sync_core.guards import RunBlocked, check_change_guards

ROWS = [(f"user{i}@x.io", f"U{i}", i) for i in range(30)]
TABLE = "email VARCHAR, first_name VARCHAR, score INTEGER"
MAPPINGS = [("first_name", "firstName"), ("score", "score")]


def people(tmp_path, monkeypatch, rows=ROWS, **kwargs):
    kwargs.setdefault("mode", "upsert")
    return small_workspace(tmp_path, monkeypatch, table=TABLE, rows=rows, mappings=MAPPINGS, **kwargs)


def mqr_keys(s) -> int:
    [(n,)] = s.state_sql("SELECT COUNT(*) FROM mqr_ledger")
    return n


# ---- change guards -----------------------------------------------------------------------------------------

def counts(queried: int, removed: int) -> RunCounts:
    c = RunCounts(queried=queried)
    c.plan("removed", removed)
    return c


def test_guards_are_a_function_of_the_plans_counts():
    check_change_guards("s", counts(0, 0), 0, 0.2)  # a new sync with an empty model changes nothing
    check_change_guards("s", counts(80, 20), 100, 0.2)  # 20% removed: at the limit, allowed
    with pytest.raises(RunBlocked, match="21 of the 100 rows"):
        check_change_guards("s", counts(79, 21), 100, 0.2)
    with pytest.raises(RunBlocked, match="model returned no rows"):
        check_change_guards("s", counts(0, 100), 100, 1.0)  # an empty model is blocked even with the share off
    check_change_guards("s", counts(0, 100), 100, 0.2, allow_removals=True)
    check_change_guards("s", counts(10, 90), 100, 1.0)


def test_an_empty_model_is_blocked_before_it_changes_anything(tmp_path, monkeypatch, capsys):
    with people(tmp_path, monkeypatch) as s:
        s.run()
        snapshot, ledger = s.snapshot(), mqr_keys(s)
        s.sql("DELETE FROM people")
        mark = s.sandbox.last_request_id()
        assert cli(["-w", str(s.root), "run", "people"]) == 1
        out = capsys.readouterr().out
        assert "BLOCKED" in out and "model returned no rows" in out and "--allow-removals" in out
        assert s.snapshot() == snapshot and mqr_keys(s) == ledger and s.writes_since(mark) == []
        with StateStore(s.workspace.state_path) as store:
            [blocked, _] = store.list_runs(sync_id="people")
        assert blocked.status == "blocked" and blocked.counts.queried == 0 and blocked.counts.operation("removed") == 30

        # The next good run has nothing to resend: the snapshot was kept.
        s.sql("INSERT INTO people VALUES " + ", ".join(f"('{e}', '{n}', {v})" for e, n, v in ROWS))
        assert s.run().counts.outcome("synced") == 0

        # Accepted once, on purpose: the rows leave the snapshot (nothing is deleted in Iterable).
        s.sql("DELETE FROM people")
        assert cli(["-w", str(s.root), "run", "people", "--allow-removals"]) == 0
        assert s.snapshot() == {} and len(s.sandbox.users(PROJECT)) == 30


def test_removing_more_than_the_syncs_share_is_blocked_and_the_share_is_configurable(tmp_path, monkeypatch):
    with people(tmp_path, monkeypatch) as s:
        s.run()
        s.sql("DELETE FROM people WHERE score < 7")  # 7 of 30: 23%
        record = s.run()
        assert record.status == "blocked" and "7 of the 30 rows" in record.error
        assert "max_removal_share" in record.error and len(s.snapshot()) == 30
        dry = s.run(dry_run=True)  # a dry run reports the plan, and says a run would be blocked
        assert dry.status == "planned" and any("would be blocked" in n for n in dry.notes)

        text = (s.root / "workspace.toml").read_text()
        (s.root / "workspace.toml").write_text(text.replace('mode = "upsert"', 'mode = "upsert"\nmax_removal_share = 0.5'))
        record = s.run()
        assert record.status == "healthy" and record.counts.operation("removed") == 7 and len(s.snapshot()) == 23


# ---- a full resync completes across interruptions ------------------------------------------------------------

def test_an_interrupted_full_resync_is_continued_by_the_next_run(tmp_path, monkeypatch):
    with people(tmp_path, monkeypatch, destination_settings="batch_size = 5\nconcurrency = 1") as s:
        s.run()
        # Someone overwrote every user in Iterable: a full resync is how the sync repairs them.
        s.create_users(*(e for e, _, _ in ROWS), firstName="overwritten")
        s.sandbox.add_fault("users/bulkUpdate", "unauthorized", after=2)  # the key is revoked mid-run
        interrupted = s.run(full_resync=True)
        assert interrupted.status == "failed" and interrupted.counts.outcome("synced") == 10
        s.sandbox.clear_faults()

        resumed = s.run()  # a plain run: the rows the full resync did not reach are sent now
        assert resumed.status == "healthy" and resumed.counts.outcome("synced") == 20
        assert any("Continuing the full resync started by run 2" in n for n in resumed.notes)
        assert all(u["dataFields"]["firstName"] != "overwritten" for u in s.sandbox.users(PROJECT))

        assert s.run().counts.planned == 0  # done: the run after it has nothing to resend


# ---- the snapshot holds only what the destination holds ---------------------------------------------------------

def test_a_user_deleted_in_the_destination_leaves_the_snapshot(tmp_path, monkeypatch):
    with people(tmp_path, monkeypatch, mode="update") as s:
        s.create_users(*(e for e, _, _ in ROWS))
        s.run()
        s.sandbox.delete_user(PROJECT, email="user7@x.io")
        record = s.run(full_resync=True)
        assert record.counts.outcome("rejected_expected") == 1
        assert s.rejections() == {"user7@x.io": "NotFound"} and "user7@x.io" not in s.snapshot()


def test_a_user_deleted_after_the_look_up_leaves_the_snapshot(tmp_path, monkeypatch):
    with people(tmp_path, monkeypatch, mode="update") as s:
        s.create_users(*(e for e, _, _ in ROWS))
        s.run()
        s.sandbox.delete_user(PROJECT, email="user7@x.io")  # still known from the last export: the write says
        s.sql("UPDATE people SET score = 100 WHERE email = 'user7@x.io'")
        s.run()
        assert s.rejections() == {"user7@x.io": "NotFound"} and "user7@x.io" not in s.snapshot()


# ---- standing problems and new ones ---------------------------------------------------------------------------------

BAD = [(f"broken{i}-at-x.io", "B", i) for i in range(10)]  # invalid emails: a data rejection every run


def test_a_rerun_that_meets_the_same_rejections_again_keeps_the_first_runs_status(tmp_path, monkeypatch):
    rows = [(f"user{i}@x.io", f"U{i}", i) for i in range(3_000)] + BAD
    with people(tmp_path, monkeypatch, rows) as s:
        first = s.run()
        assert first.status == "warning" and first.counts.outcome("rejected_other") == 10
        rerun = s.run()  # nothing changed: only the 10 standing rejections are planned again
        assert rerun.counts.planned == 10 and rerun.counts.outcome("rejected_other") == 10
        assert rerun.counts.repeated_other == 10
        assert rerun.status == "warning"


def test_new_failures_beside_standing_ones_still_fail_the_run(tmp_path, monkeypatch):
    rows = [(f"user{i}@x.io", f"U{i}", i) for i in range(3_000)] + BAD
    with people(tmp_path, monkeypatch, rows, destination_settings="max_attempts = 1") as s:
        s.run()
        s.sql("UPDATE people SET score = score + 1 WHERE email LIKE 'user%' AND score < 20")
        s.sandbox.add_fault("users/bulkUpdate", "server_error", status=503)
        rerun = s.run()
        assert rerun.counts.repeated_other == 10 and rerun.counts.outcome("failed") == 20
        assert rerun.status == "failed"  # the 20 changed rows all failed: that is news
