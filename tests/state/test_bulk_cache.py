"""Cached copies of bulk state: used only while exact, and always equal to what SQLite holds."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pyarrow as pa

import pytest

from demo_helpers import demo_workspace
from sync_core import RunCounts, StateStore
from sync_core.demo.workspace import advance_demo
from sync_core.mqr import current_period_start
from sync_core.state.bulk_cache import BulkCache
from sync_core.state import key_state
from sync_core.state.key_state import REJECTION_SCHEMA, SNAPSHOT_SCHEMA, KeyStateChanges

SYNCS = ("iterable-production", "iterable-first-namespace")


@pytest.fixture
def demo(tmp_path: Path):
    """Limits off: these tests run more update-only look-ups than Iterable's 4 exports a minute."""
    unlimited = 'rate_limits = { "users/bulkUpdate" = "1000/s", "export/data.json" = "1000/min" }'
    with demo_workspace(tmp_path, rate_limits=False, destination_settings=unlimited) as d:
        yield d


def rows(table: pa.Table) -> set[tuple]:
    return set(zip(*(table.column(n).to_pylist() for n in table.column_names)))


def test_a_copy_is_used_only_at_its_version(tmp_path: Path):
    cache = BulkCache(tmp_path / "cache", identity="store-1")
    cache.save("sync:a", 7, pa.table({"key": ["x", "y"]}))
    assert cache.load("sync:a", 7).column("key").to_pylist() == ["x", "y"]
    assert cache.load("sync:a", 8) is None and cache.load("sync:b", 7) is None
    assert BulkCache(tmp_path / "cache", identity="store-2").load("sync:a", 7) is None  # another store's state
    cache._file("sync:a").write_bytes(b"ARROW1 cut short by a crash")
    assert cache.load("sync:a", 7) is None


def sync_key(path: Path, key: str) -> None:
    """A run of sync x that confirms one key, reading and leaving the cached copy as a run does."""
    with StateStore(path) as store:
        run = store.start_run("x", trigger="test", config_fingerprint="f")
        state, changes = store.key_state("x"), KeyStateChanges()
        store.commit_batch(run, "x", fingerprint="f", synced=[(key, "h")])
        changes.synced([(key, "h")])
        assert store.save_key_state(state, changes)
        store.finish_run(run, status="healthy", counts=RunCounts(), phases={}, notes=[])  # a rolling backup


def test_a_backup_copied_back_never_uses_a_copy_of_other_state_at_its_version(tmp_path: Path):
    """Versions count per file: a backup put back and run on reaches the version numbers of the newer state it
    replaced, with other contents. Its copies must not pass for the state of another backup at that version."""
    path = tmp_path / "state.sqlite"
    sync_key(path, "a")  # sync:x at version 1: {a}; backup 1
    [first] = (tmp_path / "backups").iterdir()
    hours_ago = time.time() - 7 * 3600
    os.utime(first, (hours_ago, hours_ago))  # so that the next run takes another backup
    sync_key(path, "b")  # version 2: {a, b}; backup 2
    second = max((tmp_path / "backups").iterdir())
    shutil.copyfile(first, path)  # put back backup 1 by hand: version 1, {a}
    sync_key(path, "c")  # version 2 again, now {a, c}: the cached copy says so
    shutil.copyfile(second, path)  # put back backup 2 by hand: version 2, {a, b}
    with StateStore(path) as store:
        state = store.key_state("x")
        assert rows(state.snapshot) == {("a", "h"), ("b", "h")} == rows(store.snapshot_table("x"))
        assert not state.from_cache


def test_changes_apply_as_sqlite_applies_them():
    snapshot = pa.table({"key": ["a", "b", "c"], "row_hash": ["ha", "hb", "hc"]}, schema=SNAPSHOT_SCHEMA)
    rejections = pa.table({"key": ["d", "e", "f"], "row_hash": ["hd", "he", None], "cause_id": [1, 1, 2]},
                          schema=REJECTION_SCHEMA)
    changes = KeyStateChanges()
    changes.synced([("b", "hb2"), ("d", "hd2")])  # b changed; d was rejected, now synced
    changes.rejected([("a", "ha2", 3), ("e", "he2", 1)])  # a's new values refused (its snapshot row stays)
    changes.removed(["c"])
    changes.forgotten(["f"])
    changes.rejected([("d", "hd3", 4)])  # the latest change of a key wins
    applied = {}
    changes.apply(snapshot, rejections, lambda part, batches: applied.setdefault(part, batches.read_all()))
    new_snapshot, new_rejections = applied["snapshot"], applied["rejections"]
    assert rows(new_snapshot) == {("a", "ha"), ("b", "hb2"), ("d", "hd2")}
    assert rows(new_rejections) == {("a", "ha2", 3), ("e", "he2", 1), ("d", "hd3", 4)}


def test_changes_apply_alike_when_their_duckdb_must_spill(tmp_path: Path, monkeypatch):
    """A run's end at 300k keys under a 32 MB bound: the same tables."""
    monkeypatch.setattr(key_state, "MEMORY_LIMIT", "32MB")
    n = 300_000
    snapshot = pa.table({"key": [f"k{i}" for i in range(n)], "row_hash": ["h"] * n}, schema=SNAPSHOT_SCHEMA)
    changes = KeyStateChanges()
    changes.synced((f"k{i}", "new") for i in range(0, n, 2))
    changes.removed(f"k{i}" for i in range(1, n, 4))
    applied = {}
    assert changes.apply(snapshot, REJECTION_SCHEMA.empty_table(),
                         lambda part, batches: applied.setdefault(part, batches.read_all()), spill=tmp_path / "spill")
    expected = {(f"k{i}", "new" if i % 2 == 0 else "h") for i in range(n) if i % 4 != 1}
    assert rows(applied["snapshot"]) == expected and applied["rejections"].num_rows == 0


def test_a_first_full_sync_leaves_a_copy_even_where_its_changes_could_not_be_ordered(tmp_path: Path, monkeypatch):
    """A first run that confirms or refuses each key once: its changes are the copy. Ordering them per key under
    the bound spilled, or failed and left no copy (1M keys in 64 MB, as 200k in 8 MB here): the next run then read
    1M rows from SQLite."""
    monkeypatch.setattr(key_state, "MEMORY_LIMIT", "8MB")
    n = 200_000
    changes = KeyStateChanges(tmp_path / "spool")
    for start in range(0, n, 1000):
        changes.synced((f"user{i}@example.com", f"h{i}") for i in range(start, start + 1000))
    changes.rejected((f"unknown{i}@example.com", "h", 1) for i in range(n // 2))
    applied = {}
    assert changes.apply(SNAPSHOT_SCHEMA.empty_table(), REJECTION_SCHEMA.empty_table(),
                         lambda part, batches: applied.setdefault(part, batches.read_all()), spill=tmp_path / "spill")
    assert rows(applied["snapshot"]) == {(f"user{i}@example.com", f"h{i}") for i in range(n)}
    assert rows(applied["rejections"]) == {(f"unknown{i}@example.com", "h", 1) for i in range(n // 2)}


def test_a_first_run_that_changed_a_key_twice_keeps_its_latest_change():
    changes = KeyStateChanges()
    changes.synced([("a", "h1"), ("b", "h1"), ("c", "h1")])
    changes.rejected([("a", "h2", 5)])  # a's later values refused: its confirmed row stays in the snapshot
    changes.synced([("c", "h2")])
    changes.removed(["b"])
    applied = {}
    assert changes.apply(SNAPSHOT_SCHEMA.empty_table(), REJECTION_SCHEMA.empty_table(),
                         lambda part, batches: applied.setdefault(part, batches.read_all()))
    assert rows(applied["snapshot"]) == {("a", "h1"), ("c", "h2")}
    assert rows(applied["rejections"]) == {("a", "h2", 5)}


def test_changes_spooled_to_disk_in_several_parts_apply_alike(tmp_path: Path, monkeypatch):
    """A run's changes go to an anonymous spool file a part at a time: the keys it confirmed can be read while
    it goes on committing, the end applies every part in commit order, and no file is left in the folder."""
    monkeypatch.setattr(key_state, "SPOOL_ROWS", 3)
    changes = KeyStateChanges(tmp_path / "spool")
    changes.synced([(f"k{i}", "h1") for i in range(5)])
    changes.removed(["old"])
    assert changes.synced_keys().read_all().column("key").to_pylist() == [f"k{i}" for i in range(5)]
    changes.rejected([("k1", "h2", 7)])
    changes.synced([("k1", "h3")])  # the latest change of a key wins, across parts
    changes.removed(["k4"])
    assert list((tmp_path / "spool").iterdir()) == []  # nothing a crash could leave behind
    applied = {}
    snapshot = pa.table({"key": ["old", "k0"], "row_hash": ["h0", "h0"]}, schema=SNAPSHOT_SCHEMA)
    assert changes.apply(snapshot, REJECTION_SCHEMA.empty_table(),
                         lambda part, batches: applied.setdefault(part, batches.read_all()))
    assert rows(applied["snapshot"]) == {("k0", "h1"), ("k1", "h3"), ("k2", "h1"), ("k3", "h1")}
    assert applied["rejections"].num_rows == 0
    assert changes.synced_keys().read_all().column("key").to_pylist() == [f"k{i}" for i in range(5)] + ["k1"]
    changes.close()


def test_confirmed_keys_opened_before_more_changes_stop_where_the_spool_ended(tmp_path: Path, monkeypatch):
    """The MQR's held marks read the confirmed keys on another thread while the run's thread appends changes (its
    finish stage): the reader ends where the spool ended when it was opened, never inside a part being written."""
    monkeypatch.setattr(key_state, "SPOOL_ROWS", 3)
    changes = KeyStateChanges(tmp_path / "spool")
    changes.synced([(f"k{i}", "h") for i in range(5)])
    confirmed = changes.synced_keys()
    changes.synced([(f"late{i}", "h") for i in range(4)])  # a part past SPOOL_ROWS: written to the spool at once
    changes.removed(["old"])
    assert changes.synced_keys().read_all().num_rows == 9  # the spool holds them all now
    assert confirmed.read_all().column("key").to_pylist() == [f"k{i}" for i in range(5)]
    changes.close()


def test_a_spool_that_cannot_be_written_loses_the_copy_never_the_run(monkeypatch):
    """A full disk under the spool: committing goes on (SQLite has the rows), the run's end makes no copy (the
    next run reads SQLite), and the confirmed keys are an error to log, never a silently short list."""
    def full_disk(folder):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(key_state, "_anonymous_file", full_disk)
    monkeypatch.setattr(key_state, "SPOOL_ROWS", 2)
    changes = KeyStateChanges()
    changes.synced([("a", "h"), ("b", "h")])
    changes.synced([("c", "h")])
    assert not changes.apply(SNAPSHOT_SCHEMA.empty_table(), REJECTION_SCHEMA.empty_table(),
                             lambda part, batches: pytest.fail("a copy was written"))
    with pytest.raises(OSError, match="could not be spooled"):
        changes.synced_keys()


def test_a_run_end_that_cannot_apply_its_changes_leaves_the_state_to_sqlite(tmp_path: Path, monkeypatch):
    """DuckDB out of room (a bound too small to run in, as a full disk under the spill folder): no copy is
    current, and the next read is SQLite's, the key the run confirmed in it."""
    path = tmp_path / "state.sqlite"
    sync_key(path, "a")
    monkeypatch.setattr(key_state, "MEMORY_LIMIT", "1MB")
    with StateStore(path) as store:
        run = store.start_run("x", trigger="test", config_fingerprint="f")
        state, changes = store.key_state("x"), KeyStateChanges()
        store.commit_batch(run, "x", fingerprint="f", synced=[(f"b{i}", "h") for i in range(20_000)])
        changes.synced((f"b{i}", "h") for i in range(20_000))
        assert not store.save_key_state(state, changes)
        after = store.key_state("x")
        assert not after.from_cache and after.snapshot.num_rows == 20_001
        assert rows(after.snapshot) == rows(store.snapshot_table("x"))


def assert_cache_matches_sqlite(store: StateStore, sync_id: str) -> None:
    state = store.key_state(sync_id)
    assert state.from_cache, "the run left no current copy"
    assert rows(state.snapshot) == rows(store.snapshot_table(sync_id))
    assert rows(state.rejections) == rows(store.rejection_table(sync_id))


def test_after_every_run_the_copy_equals_the_state_store(demo):
    for day in range(2):
        for sync_id in SYNCS:
            demo.run(sync_id)
            with StateStore(demo.workspace.state_path) as store:
                assert_cache_matches_sqlite(store, sync_id)
        advance_demo(demo.workspace)
    demo.run("iterable-production", full_resync=True)
    with StateStore(demo.workspace.state_path) as store:
        assert_cache_matches_sqlite(store, "iterable-production")
        # The known identifiers and the MQR ledger are cached the same way.
        for scope in {s for (s,) in store._db.execute("SELECT scope FROM known_identifier_scopes")}:
            known = store.known_identifiers(scope)
            listed = {i for (i,) in store._db.execute("SELECT ident FROM known_identifiers WHERE scope = ?", (scope,))}
            assert set(known.idents.to_pylist()) == listed
        period = current_period_start(demo.workspace.mqr.billing_period_start_day).isoformat()
        ledger = {d for (d,) in store._db.execute("SELECT key_digest FROM mqr_ledger WHERE period_start = ?",
                                                  (period,))}
        assert set(store.mqr_digests(period, "person").digests.to_pylist()) == ledger


def test_a_write_by_another_process_makes_the_next_run_read_sqlite(demo):
    sync_id = "iterable-production"
    demo.run(sync_id)
    with StateStore(demo.workspace.state_path) as store, StateStore(demo.workspace.state_path) as other:
        state = store.key_state(sync_id)
        key = state.snapshot.column("key")[0].as_py()
        other.commit_batch(1, sync_id, fingerprint="x", removed=[key])  # meanwhile, elsewhere
        assert not store.save_key_state(state, KeyStateChanges())
        fresh = store.key_state(sync_id)
        assert not fresh.from_cache and key not in fresh.snapshot.column("key").to_pylist()
    assert demo.run(sync_id).counts.operation("added") >= 1  # the removed key is planned again, from SQLite's truth


def test_a_new_billing_period_drops_the_copy_of_the_last_one(tmp_path: Path):
    with StateStore(tmp_path / "state.sqlite") as store:
        store.record_queried("2026-10-01", "person", [1, 2, 3], run_id=1)
        store.record_queried("2026-10-01", "account", [9], run_id=1)
        store.mqr_digests("2026-10-01", "person")
        store.mqr_digests("2026-10-01", "account")
        assert store._cache._file("mqr:2026-10-01:person").exists()

        november = store.mqr_digests("2026-11-01", "person")
        store.record_queried("2026-11-01", "person", [2, 4], run_id=2, counted=november)
        assert not store._cache._file("mqr:2026-10-01:person").exists()
        assert store._cache._file("mqr:2026-10-01:account").exists()  # another entity keeps its copy
        assert store.mqr_digests("2026-11-01", "person").digests.to_pylist() == [2, 4]
        # the earlier period still reads right, from SQLite
        assert sorted(store.mqr_digests("2026-10-01", "person").digests.to_pylist()) == [1, 2, 3]
