"""A damaged state store is refused with a message that names the file and the way back (a backup, or a reset),
by every command, never with a traceback; and a run leaves a backup to come back to."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import shutil

import pytest

from sync_core import StateStore, invariant_violations
from sync_core.progress import SilentObserver

READ_COMMANDS = [["runs"], ["syncs"], ["failures"], ["run-show", "1"]]


def cli(demo, *args, stdin: str = "", **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sync_core.cli", "-w", str(demo.root), *args], input=stdin,
                          capture_output=True, text=True, timeout=300, **kwargs)


def assert_refused(done: subprocess.CompletedProcess, path, *words: str) -> None:
    """A message on stderr naming the file and the next step, a non-zero exit, and no traceback."""
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    for word in (str(path), *words):
        assert word in done.stderr, (word, done.stderr)


@pytest.fixture
def synced(demo):
    """The demo after one run through the CLI; its state file closed (no -wal left)."""
    done = cli(demo, "run", "iterable-production")
    assert done.returncode == 0, done.stderr
    return demo


def corrupt_page_of(path, index: str) -> None:
    """Overwrite the root page of an index, as a disk or a bad copy would."""
    db = sqlite3.connect(path)
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (index,)).fetchone()[0]
    db.close()
    with open(path, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(bytes(range(256)) * (page_size // 256))


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_every_command_refuses_a_damaged_store_with_the_next_step(synced, damage):
    demo = synced
    path = demo.workspace.state_path
    size = path.stat().st_size
    os.truncate(path, 0 if damage == "empty" else size // 2)
    mark = demo.sandbox.last_request_id()
    for args in [*READ_COMMANDS, ["run", "iterable-production"]]:
        assert_refused(cli(demo, *args), path, "is damaged", "sync-core state restore", "sync-core state reset")
    assert demo.sandbox.requests(since_id=mark) == [], "a run on a damaged store sent rows"
    assert path.stat().st_size == (0 if damage == "empty" else size // 2), "the damaged file was written"


def test_a_store_failing_the_integrity_check_is_not_run_and_state_check_says_why(synced):
    demo = synced
    path = demo.workspace.state_path
    corrupt_page_of(path, "rejections_by_cause")
    mark = demo.sandbox.last_request_id()
    assert_refused(cli(demo, "run", "iterable-production"), path, "is damaged", "integrity check",
                   "sync-core state restore")
    assert demo.sandbox.requests(since_id=mark) == []
    check = cli(demo, "state", "check")
    assert check.returncode == 1 and "DAMAGED" in check.stdout and "Page " in check.stdout, check.stdout


class DamageWhenTheQueryStarts(SilentObserver):
    """Damage found by a run after it started (its quick check passed): the snapshot's page is overwritten, as a
    disk would, and the run's connection is made to read the file again (another process writes)."""

    def __init__(self, path):
        self.path = path

    def phase(self, name: str) -> None:
        if name != "query":
            return
        shutil.rmtree(self.path.with_name("state-cache"))  # so the run reads the snapshot from SQLite
        corrupt_page_of(self.path, "snapshot")
        db = sqlite3.connect(self.path)
        with db:  # the run's connection then drops the pages it had read
            db.execute("INSERT INTO state_versions (name, version) VALUES ('another process', 1)")
        db.close()


def test_damage_met_during_a_run_is_recorded_on_the_run_as_damage(synced):
    demo = synced
    path = demo.workspace.state_path
    mark = demo.sandbox.last_request_id()
    record = demo.run("iterable-production", observer=DamageWhenTheQueryStarts(path))
    assert (record.status, record.error_class) == ("failed", "config"), record.error
    for words in (f"the state store {path} is damaged", "malformed", "sync-core state restore"):
        assert words in record.error, (words, record.error)
    assert demo.sandbox.requests(since_id=mark) == []
    shown = cli(demo, "run-show", str(record.id))
    assert shown.returncode == 0 and f"error (config): the state store {path} is damaged" in shown.stdout
    assert_refused(cli(demo, "run", "iterable-production"), path, "is damaged", "integrity check")


def test_a_run_leaves_a_backup_that_restore_puts_back(synced):
    demo = synced
    path = demo.workspace.state_path
    [backup] = (path.parent / "backups").iterdir()
    assert cli(demo, "run", "iterable-first-namespace").returncode == 0
    assert len(list((path.parent / "backups").iterdir())) == 1, "a second backup within the hour"
    check = cli(demo, "state", "check")
    assert check.returncode == 0 and "OK" in check.stdout and backup.name in check.stdout

    os.truncate(path, 0)
    assert backup.name in cli(demo, "runs").stderr  # the message points at the backup
    declined = cli(demo, "state", "restore", stdin="n\n")
    assert declined.returncode == 1 and "Nothing changed" in declined.stderr and path.stat().st_size == 0
    restored = cli(demo, "state", "restore", "--yes")
    assert restored.returncode == 0, restored.stderr
    runs = json.loads(cli(demo, "runs", "--json").stdout)
    assert [(r["id"], r["sync"]) for r in runs] == [(1, "iterable-production")]  # as of the backup
    [aside] = [p for p in path.parent.iterdir() if p.name.startswith("state-replaced-")]
    assert aside.stat().st_size == 0  # the damaged file is kept, not deleted

    rerun = demo.run("iterable-production")  # the snapshot of the backup: nothing new to send
    assert rerun.status == "warning" and invariant_violations(rerun.counts.as_dict()) == []
    assert {k.lower() for k in demo.snapshot()} == {i for i in demo.stored() if "@" in i}  # emails: this sync


def test_reset_moves_the_damaged_store_aside_and_starts_afresh(synced):
    demo = synced
    path = demo.workspace.state_path
    corrupt_page_of(path, "rejections_by_cause")
    damaged = path.read_bytes()
    assert cli(demo, "state", "reset", stdin="\n").returncode == 1 and path.read_bytes() == damaged
    done = cli(demo, "state", "reset", "--yes")
    assert done.returncode == 0, done.stderr
    [aside] = [p for p in path.parent.iterdir() if p.name.startswith("state-reset-")]
    assert aside.read_bytes() == damaged and not (path.parent / "state-cache").exists()
    assert "No runs yet" in cli(demo, "runs").stdout
    record = demo.run("iterable-production")  # everything again, from an empty snapshot
    assert record.counts.as_dict()["added"] == record.counts.as_dict()["planned"] > 0


def test_no_backup_is_taken_of_a_damaged_store(tmp_path):
    path = tmp_path / "state.sqlite"
    with StateStore(path) as store:
        run = store.start_run("x", trigger="test", config_fingerprint="f")
        store.finish_run(run, status="healthy", counts=store.get_run(run).counts, phases={}, notes=[])
    [backup] = (tmp_path / "backups").iterdir()
    backup.unlink()
    corrupt_page_of(path, "rejections_by_cause")  # damage that this run's own writes do not touch
    with StateStore(path) as store:
        run = store.list_runs(limit=1)[0].id
        store.finish_run(run, status="healthy", counts=store.get_run(run).counts, phases={}, notes=[])
    assert list((tmp_path / "backups").iterdir()) == []
