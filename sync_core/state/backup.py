"""Rolling backups of the state store, and the two ways back from a damaged one: restore a backup, or reset.

- After a run that finished (healthy or warning), the store is copied with SQLite's online backup API into
  `.sync-state/backups/`, at most once every BACKUP_EVERY_HOURS (by the files' real time, not a run's dated
  clock), keeping the last KEEP. A copy is taken only of a store that passes `PRAGMA quick_check`: a backup of
  damage would be no way back.
- Each backup gets an identity of its own (schema.py): put back, by `state restore` or by hand, it never uses
  the cached copies of bulk state taken of another file, whose versions may match its own (bulk_cache.py).
- Restore and reset move the current file (and its -wal) aside, never delete it, and drop the cached copies
  of bulk state (they could not be used: they are another file's).
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ..errors import SyncCoreError
from .bulk_cache import cache_folder
from .schema import new_identity

BACKUP_EVERY_HOURS = 6
KEEP = 3
log = logging.getLogger(__name__)


def folder(path: Path) -> Path:
    return path.parent / "backups"


def backups(path: Path) -> list[Path]:
    """The store's backups, oldest first (their names sort by time)."""
    return sorted(folder(path).glob(f"{path.stem}-*.sqlite"))


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def taken_at(backup: Path) -> str:
    return datetime.fromtimestamp(backup.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")


def damaged_next_step(path: Path) -> str:
    found = backups(path)
    reset = ("`sync-core state reset` starts a new, empty store (every row is sent again; the damaged file is "
             "kept aside)")
    if found:
        return (f"Next: `sync-core state restore` puts back the latest backup ({found[-1]}, taken {taken_at(found[-1])}; "
                f"rows confirmed since are sent again), or {reset}. `sync-core state check` shows what SQLite found.")
    return f"There is no backup in {folder(path)}. Next: {reset}. `sync-core state check` shows what SQLite found."


def due(path: Path) -> bool:
    found = backups(path)
    return not found or time.time() - found[-1].stat().st_mtime >= BACKUP_EVERY_HOURS * 3600


def take(db: sqlite3.Connection, path: Path, check: Callable[[], None]) -> Path | None:
    """Copy the store (`db`, open on `path`) into the backups folder, if it passes `check`; keep the last KEEP.
    A backup that cannot be written (a full disk), or of a store that fails the check, is logged and skipped:
    the run it follows has finished, and the next one checks the store again before it starts."""
    target = folder(path) / f"{path.stem}-{_stamp()}.sqlite"
    temporary = target.with_name(f".{target.name}.tmp")
    try:
        check()
        target.parent.mkdir(parents=True, exist_ok=True)
        copy = sqlite3.connect(temporary, isolation_level=None)
        try:
            db.backup(copy)
            new_identity(copy)  # it lives on apart from the store: its cached copies are not the store's
        finally:
            copy.close()
        os.replace(temporary, target)
    except (OSError, sqlite3.Error, SyncCoreError) as exc:
        log.warning("no backup of %s: %s", path, exc)
        temporary.unlink(missing_ok=True)
        return None
    for old in backups(path)[:-KEEP]:
        old.unlink(missing_ok=True)
    return target


def move_aside(path: Path, label: str) -> Path | None:
    """Rename the store and its -wal and -shm to `<stem>-<label>-<time>.sqlite[-wal|-shm]`, next to it; the
    main file's new name, or None if there was no store."""
    if not path.exists():
        return None
    aside = path.with_name(f"{path.stem}-{label}-{_stamp()}{path.suffix}")
    for suffix in ("-wal", "-shm", ""):  # the main file last: until it moves, the store is where it was
        part = Path(f"{path}{suffix}")
        if part.exists():
            os.replace(part, f"{aside}{suffix}")
    shutil.rmtree(cache_folder(path), ignore_errors=True)
    return aside


def restore(path: Path, backup: Path) -> Path | None:
    """Put `backup` in the store's place; the current file is moved aside (its new name is returned)."""
    temporary = path.with_name(f".{path.name}.restore")
    shutil.copyfile(backup, temporary)
    aside = move_aside(path, "replaced")
    os.replace(temporary, path)
    return aside
