"""The state store: crash-visible runs, the current rejection state, per-run causes, the MQR ledger."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pyarrow as pa
import pytest

from sync_core import RunCounts, StateStore
from sync_core.outcomes import RowProblem
from sync_core.state.reconciliations import ReconciliationRunning
from sync_core.state.schema import MIGRATIONS, _statements


def test_schema_is_versioned_and_wal(tmp_path):
    StateStore(tmp_path / "s.sqlite").close()
    db = sqlite3.connect(tmp_path / "s.sqlite")
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_store_has_an_identity_of_its_own_and_an_older_store_gets_one(tmp_path):
    with StateStore(tmp_path / "a.sqlite") as a, StateStore(tmp_path / "b.sqlite") as b:
        assert len(a.identity) == 32 and a.identity != b.identity
    with StateStore(tmp_path / "a.sqlite") as again:
        assert again.identity == a.identity
    older = tmp_path / "older.sqlite"  # as sync-core wrote it before stores had an identity (schema 6)
    db = sqlite3.connect(older, isolation_level=None)
    for script in MIGRATIONS[:6]:
        for statement in _statements(script):
            db.execute(statement)
    db.execute("PRAGMA user_version = 6")
    db.close()
    with StateStore(older) as store, StateStore(older) as other:
        assert len(store.identity) == 32 and other.identity == store.identity


def test_a_store_an_older_release_wrote_is_upgraded_by_the_first_command_that_reads_it(tmp_path):
    older = tmp_path / "older.sqlite"  # schema 3: before standing rejections, leases and run types
    db = sqlite3.connect(older, isolation_level=None)
    for script in MIGRATIONS[:3]:
        for statement in _statements(script):
            db.execute(statement)
    db.execute("INSERT INTO runs (sync_id, trigger, status, dry_run, config_fingerprint, started_at) "
               "VALUES ('s', 'cli', 'planned', 1, 'f', '2026-11-30T00:00:00+00:00')")
    db.execute("PRAGMA user_version = 3")
    db.close()
    with StateStore(older, read_only=True) as reader:  # `sync-core runs` right after an upgrade of sync-core
        [run] = reader.list_runs()
        assert (run.status, run.run_type, run.dry_run) == ("planned", "dry_run", True)
        assert len(reader.identity) == 32
    assert sqlite3.connect(older).execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_a_run_left_running_by_a_dead_process_becomes_interrupted(tmp_path):
    path = tmp_path / "s.sqlite"
    code = ("from sync_core import StateStore; import os;"
            f"s = StateStore({str(path)!r}); s.start_run('x', trigger='test', config_fingerprint='f'); os._exit(9)")
    subprocess.run([sys.executable, "-c", code], check=False)
    with StateStore(path) as store:  # opening the workspace notices the dead process
        [run] = store.list_runs()
    assert run.status == "interrupted" and "sent again by the next run" in run.error


def test_one_run_per_sync_at_a_time(tmp_path):
    with StateStore(tmp_path / "s.sqlite") as store:
        store.start_run("x", trigger="test", config_fingerprint="f")
        try:
            store.start_run("x", trigger="test", config_fingerprint="f")
        except Exception as exc:
            assert "already running" in str(exc)
        else:
            raise AssertionError("a second concurrent run of the same sync was allowed")
        store.start_run("y", trigger="test", config_fingerprint="f")  # another sync may run


def test_one_reconciliation_per_sync_at_a_time_and_the_refusal_names_the_running_one(tmp_path):
    with StateStore(tmp_path / "s.sqlite") as store:
        first = store.start_reconciliation("x", requested_by="ana")
        [running] = store.reconciliations("x")
        with pytest.raises(ReconciliationRunning) as refused:
            store.start_reconciliation("x", requested_by="bob")
        assert str(refused.value) == f"reconciliation {first} of this sync is running (started {running.started_at})"
        store.start_reconciliation("y", requested_by="bob")  # another sync's may run
        store.finish_reconciliation(first, status="complete")
        assert store.start_reconciliation("x", requested_by="bob") != first  # and the next, once it finished


def test_rejection_state_is_one_row_per_key_and_clears_when_synced(tmp_path):
    with StateStore(tmp_path / "s.sqlite") as store:
        problem = RowProblem("a@x.io", "rejected", "NotFound", "No record was found with lookup for email:a@x.io",
                             "expected", "h1")
        for _ in range(3):
            run = store.start_run("x", trigger="test", config_fingerprint="f")
            store.commit_batch(run, "x", fingerprint="f", problems=[problem])
            store.finish_run(run, status="healthy", counts=RunCounts(), phases={}, notes=[])
        [state] = store.rejections(sync_id="x")
        assert state.times_seen == 3 and state.error_class == "expected" and state.last_run_id == run
        [cause] = store.run_causes(run)
        assert (cause.rows, cause.example_keys) == (1, ["a@x.io"])
        assert cause.template == "No record was found with lookup for email:<email>"
        run = store.start_run("x", trigger="test", config_fingerprint="f")
        store.commit_batch(run, "x", fingerprint="f", synced=[("a@x.io", "h2")])
        assert store.rejections(sync_id="x") == [] and store.snapshot_keys("x") == {"a@x.io"}


def test_mqr_ledger_counts_a_key_once_per_period_and_entity(tmp_path):
    with StateStore(tmp_path / "s.sqlite") as store:
        run = store.start_run("x", trigger="test", config_fingerprint="f")
        assert store.record_queried("2026-11-01", "person", [1, 2, 3], run) == 3
        assert store.record_queried("2026-11-01", "person", [2, 3, 4], run) == 1
        assert store.record_queried("2026-12-01", "person", [1], run) == 1
        assert store.mqr_usage("2026-11-01") == {"person": 4}


def test_a_batch_enters_the_snapshot_with_every_key_exactly_as_given(tmp_path):
    """Any key, hash and destination id comes back as given (a NUL too, which SQLite's JSON functions would cut:
    a guard for any faster way of writing a batch), and a key twice in a batch keeps its last values."""
    odd = ["é😀", 'x"y\\z\n', "plain"]
    with StateStore(tmp_path / "s.sqlite") as store:
        run = store.start_run("x", trigger="test", config_fingerprint="f")
        store.commit_batch(run, "x", fingerprint="f", synced=[("a\x00b", "h-nul"), ("\\u0000 literally", "h-u")],
                           destination_ids={"a\x00b": "guid\x00-1"})
        store.commit_batch(run, "x", fingerprint="f", synced=[(k, f"h-{k}") for k in odd] + [("plain", "last")],
                           destination_ids={"é😀": "guid-2", "plain": "guid-3"})
        store.commit_batch(run, "x", fingerprint="f", synced=[("b", "h-b"), ("plain", "newest")])
    db = sqlite3.connect(tmp_path / "s.sqlite")
    assert dict(db.execute("SELECT key, row_hash FROM snapshot")) == {
        "a\x00b": "h-nul", "\\u0000 literally": "h-u", "é😀": "h-é😀", 'x"y\\z\n': 'h-x"y\\z\n', "plain": "newest",
        "b": "h-b"}
    assert dict(db.execute("SELECT key, destination_id FROM snapshot WHERE destination_id IS NOT NULL")) == {
        "a\x00b": "guid\x00-1", "é😀": "guid-2"}  # "plain" was confirmed again without an id
    db.close()


def test_mqr_digests_keep_every_bit_and_count_across_chunks(tmp_path, monkeypatch):
    """Digests reach SQLite as JSON text: the largest 63-bit ones must come back exactly, and a call spanning
    several statements (BIND_CHUNK) must count, mark and read every one of them."""
    monkeypatch.setattr("sync_core.state.mqr_ledger.BIND_CHUNK", 2)
    digests = [0, 7, 2**53 + 1, 2**62 + 12345, 2**63 - 1]
    with StateStore(tmp_path / "s.sqlite") as store:
        run = store.start_run("x", trigger="test", config_fingerprint="f")
        assert store.record_queried("2026-11-01", "person", pa.array(digests, pa.int64()), run, sync_id="x") == 5
        assert store.record_queried("2026-11-01", "person", [7, 8], run, sync_id="x") == 1
        assert sorted(store.mqr_digests("2026-11-01", "person").digests.to_pylist()) == sorted(digests + [8])
        store.record_sync_queried("2026-11-01", "x", digests[:3], store.sync_keys("2026-11-01", "x"),
                                  held=digests[3:])
        store.mark_held("2026-11-01", "x", [7, 2**53 + 1], store.sync_keys("2026-11-01", "x"))
        assert [(m.first_counted, m.queried, m.held) for m in store.mqr_by_sync("2026-11-01")] == [(6, 5, 4)]
    db = sqlite3.connect(tmp_path / "s.sqlite")  # what SQLite holds, not a cached copy
    assert sorted(db.execute("SELECT key_digest FROM mqr_ledger")) == [(d,) for d in sorted(digests + [8])]
    assert dict(db.execute("SELECT key_digest, held FROM mqr_sync_keys")) == {
        0: 0, 7: 1, 2**53 + 1: 1, 2**62 + 12345: 1, 2**63 - 1: 1}
    db.close()


def test_keys_marked_held_in_several_transactions_agree_with_their_totals_and_the_cached_copy(tmp_path, monkeypatch):
    """A large mark_held commits in parts (HELD_CHUNK keys each) so a run's lease renewal never waits long: every
    key is marked, the totals count each once, and the sync's keys read next (through the cached copy) say so."""
    monkeypatch.setattr("sync_core.state.mqr_ledger.HELD_CHUNK", 2)
    digests = list(range(1, 8))
    with StateStore(tmp_path / "s.sqlite") as store:
        store.record_sync_queried("2026-11-01", "x", digests, store.sync_keys("2026-11-01", "x"))
        store.mark_held("2026-11-01", "x", digests[:5] + [99], store.sync_keys("2026-11-01", "x"))
        store.mark_held("2026-11-01", "x", digests[3:], store.sync_keys("2026-11-01", "x"))  # 4 and 5 again
        assert [(m.queried, m.held) for m in store.mqr_by_sync("2026-11-01")] == [(7, 7)]
        keys = store.sync_keys("2026-11-01", "x")
        assert dict(zip(keys.digests.to_pylist(), keys.held.to_pylist())) == {d: True for d in digests}
    db = sqlite3.connect(tmp_path / "s.sqlite")
    assert dict(db.execute("SELECT key_digest, held FROM mqr_sync_keys")) == {d: 1 for d in digests}
    db.close()


def known(store: StateStore, scope: str = "s") -> set[str]:
    return {i for (i,) in store._db.execute("SELECT ident FROM known_identifiers WHERE scope = ?", (scope,))}


def test_a_full_export_replaces_the_known_list_writing_only_the_difference(tmp_path):
    first = pa.array([f"u{i}@x.io" for i in range(1000)])
    second = pa.array([f"u{i}@x.io" for i in range(1, 1001)])  # u0 gone, u1000 new
    with StateStore(tmp_path / "state.sqlite") as store:
        store.save_known_identifiers("s", first, exported_at=1.0, full=True)
        before = store._db.total_changes
        listed = store.save_known_identifiers("s", second, exported_at=2.0, full=True,
                                              known=store.known_identifiers("s"))
        # one row out, one in, the scope's times and its version: not 1,000 deletes and 1,000 inserts
        assert store._db.total_changes - before == 4
        assert known(store) == set(second.to_pylist()) == set(listed.to_pylist())
        assert set(store.known_identifiers("s").idents.to_pylist()) == set(second.to_pylist())


def test_a_full_export_drops_what_it_lacks_but_keeps_what_others_added_since_it_was_read(tmp_path):
    """What others added may be newer than the export (a sync confirmed a user it created after the export
    began): kept. One that is gone after all is refused not found by its next write, and forgotten then."""
    with StateStore(tmp_path / "state.sqlite") as store, StateStore(tmp_path / "state.sqlite") as other:
        store.save_known_identifiers("s", pa.array(["a@x.io", "b@x.io"]), exported_at=1.0, full=True)
        as_read = store.known_identifiers("s")
        other.save_known_identifiers("s", pa.array(["c@x.io"]), exported_at=1.5, full=False)  # meanwhile
        store.save_known_identifiers("s", pa.array(["b@x.io", "d@x.io"]), exported_at=2.0, full=True,
                                     known=as_read)
        assert known(store) == {"b@x.io", "c@x.io", "d@x.io"}  # a, known before the export and not in it, is gone
