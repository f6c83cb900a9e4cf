"""Opening the state store safely, and saying what is wrong with it when it cannot be used.

- A new store is written complete under a temporary name, then linked into place: so an existing state file is
  never empty by sync-core's doing, and an empty one is damage (its history is gone), not a new workspace.
- SQLite's "file is not a database" and "database disk image is malformed" become `StateDamaged`; a write that
  fails (read-only, disk full, I/O error) becomes `StateUnwritable`. Both name the file and the next step.
- `PRAGMA quick_check` reads every page: 0.35-0.4 s at 185 MB (500k snapshot rows, 500k rejections, 1M MQR
  digests), more at a year of history (about 1 GB: docs/benchmarks.md). Too slow for every open (the dashboard opens the store per
  query, `sync-core runs` takes milliseconds), so it runs before every backup, in `sync-core state check`, and
  when a run starts: always while the store is under 128 MB, else at most every 6 hours
  (`quick_check_if_due`).
- A read-only open runs no migration and takes no write lock, and creates no file (see `open_read_only`).
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from urllib.parse import quote

from ..errors import StateDamaged, StateStoreError, StateUnwritable
from ..wal import use_wal
from .backup import damaged_next_step
from .schema import MIGRATIONS, check_version, migrate

DAMAGE = ("malformed", "not a database", "corrupt")  # SQLITE_CORRUPT, SQLITE_NOTADB
READ_COMMANDS = "`sync-core runs`, `run-show`, `syncs` and `failures` still read it"


def damaged(path: Path, problem: str) -> StateDamaged:
    return StateDamaged(path, problem, damaged_next_step(path))


def as_state_error(exc: BaseException | None, path: Path, *, running_run: int | None = None) -> StateStoreError | None:
    """The error a user can act on for an SQLite error on the state store, or None if it is not one of those."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return None
    text = str(exc)
    said = f"SQLite says '{text}'"
    if any(marker in text for marker in DAMAGE):
        return damaged(path, said)
    folder = path.parent
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        step = (f"Check that this user can write {path.name} and its folder {folder} (owner, permissions, a "
                f"read-only mount or disk); {READ_COMMANDS}.")
    elif "full" in text:
        step = f"Free space on the disk holding {folder} (and check any file-size or quota limit), then run again."
    elif "I/O error" in text:
        step = (f"Check the disk holding {folder}: free space, file-size or quota limits, permissions, and the "
                "system log for I/O errors.")
    else:
        return None
    if running_run is not None:
        step += (f" Run {running_run} stopped here: the batches it had confirmed are kept, and the next run "
                 "continues from there.")
    return StateUnwritable(path, said, step)


def _refuse_empty(path: Path) -> None:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if size == 0:
        raise damaged(path, "the file is empty (0 bytes), so its run history and snapshots are gone; sync-core "
                            "never leaves an empty state file (a failed copy, a full disk or an edit does)")


def _create(path: Path) -> None:
    """Write a new, migrated store under a temporary name and link it into place (unless another process was
    quicker: then theirs is used)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.new")
    db = sqlite3.connect(temporary, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")  # persistent: the file is in WAL mode from its first open
        migrate(db, path)
    finally:
        db.close()
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


def open_read_write(path: Path) -> sqlite3.Connection:
    _refuse_empty(path)
    if not path.exists():
        _create(path)
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        check_version(db, path)
        use_wal(db)
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("PRAGMA foreign_keys=ON")
    except BaseException:
        db.close()
        raise
    return db


def open_read_only(path: Path) -> sqlite3.Connection:
    """A connection that never writes: no migration, no write lock, no file created.

    In WAL mode even a `mode=ro` connection creates the -wal and -shm files when they are missing, and cannot
    open at all in a read-only folder. They are missing only when no connection is open (the last one to
    close removes them), and then the database file holds every commit: it is read as `immutable`, with no
    locks. When they exist, a writer may be at work, and `mode=ro` reads its commits from the WAL. A store that
    does not exist yet reads as an empty one, in memory."""
    _refuse_empty(path)
    if not path.exists():
        db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        migrate(db, path)
        return db
    db = _connect_read_only(path)
    if check_version(db, path) < len(MIGRATIONS):  # written by an older sync-core: upgrade it once, then read
        db.close()
        _upgrade(path)
        db = _connect_read_only(path)
    return db


def _connect_read_only(path: Path) -> sqlite3.Connection:
    wal = Path(f"{path}-wal").exists()
    uri = f"file:{quote(str(path.resolve()))}?{'mode=ro' if wal else 'immutable=1'}"
    db = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        check_version(db, path)
        db.execute("PRAGMA busy_timeout=30000")
    except BaseException:
        db.close()
        raise
    return db


def _upgrade(path: Path) -> None:
    """Run the migrations an older sync-core's store lacks: reading it with this release's queries needs them."""
    try:
        db = open_read_write(path)
        try:
            migrate(db, path)
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        error = as_state_error(exc, path)
        if error is None:
            raise
        raise StateUnwritable(path, f"it was written by an older sync-core and must be upgraded before it can be "
                                    f"read, which writes to it ({exc})", error.next_step) from None


# A run starts with SQLite's quick check while the store is small; past this size (a year of history is about
# 1 GB, 2 s of checking) at most every CHECK_EVERY, the time since the last passed check kept as a stamp file's
# modification time. Reading a damaged page still fails at once, whenever it happens (`as_state_error`).
ALWAYS_CHECK_BELOW = 128 * 1024 * 1024
CHECK_EVERY = 6 * 3600  # as often as backups are taken (each takes a check first)


def quick_check_if_due(db: sqlite3.Connection, path: Path) -> None:
    """quick_check at a run's start, unless the store is large and passed one within CHECK_EVERY."""
    stamp = path.with_name(path.name + ".checked")
    try:
        large = path.stat().st_size >= ALWAYS_CHECK_BELOW
        if large and time.time() - stamp.stat().st_mtime < CHECK_EVERY:
            return
    except FileNotFoundError:
        pass
    quick_check(db, path)
    try:
        stamp.touch()
    except OSError:  # a read-only folder: the next run checks again
        pass


def quick_check(db: sqlite3.Connection, path: Path) -> None:
    """Raise StateDamaged if SQLite's quick check finds a problem (it reads every page: see the module doc)."""
    problems = _problems(db, "quick_check(5)")
    if problems:
        raise damaged(path, f"SQLite's integrity check found problems, e.g. '{problems[0]}'")


def full_check(path: Path) -> list[str]:
    """What `PRAGMA integrity_check` finds wrong with the store (up to 20 problems); [] if it is sound."""
    try:
        db = open_read_only(path)
        try:
            try:
                return _problems(db, "integrity_check(20)")
            except sqlite3.DatabaseError:  # it gives up on some damage that the quick check describes
                return _problems(db, "quick_check(20)")
        finally:
            db.close()
    except StateDamaged as exc:
        return [exc.problem]
    except sqlite3.DatabaseError as exc:
        if isinstance(as_state_error(exc, path), StateDamaged):
            return [f"SQLite says '{exc}'"]
        raise


def _problems(db: sqlite3.Connection, pragma: str) -> list[str]:
    found = [row[0].replace("*** in database main ***\n", "") for row in db.execute(f"PRAGMA {pragma}")]
    return [] if found == ["ok"] else found


def show_as_interrupted(db: sqlite3.Connection, run_ids: list[int], error: str) -> None:
    """On a read-only connection, show runs whose process is gone as `interrupted` (a writer records them so
    at its next open): a temporary view `runs` hides the stored table for this connection alone."""
    if not run_ids:
        return
    ids = ", ".join(str(int(i)) for i in run_ids)
    columns = [row[1] for row in db.execute("PRAGMA main.table_info(runs)")]
    override = {"status": "'interrupted'", "error": "?", "error_class": "'transient'",
                "finished_at": "coalesce(finished_at, started_at)"}
    select = ", ".join(f"CASE WHEN id IN ({ids}) THEN {override[c]} ELSE {c} END AS {c}" if c in override else c
                       for c in columns)
    db.execute(f"CREATE TEMP VIEW runs AS SELECT {select} FROM main.runs".replace("?", _quoted(error)))


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
