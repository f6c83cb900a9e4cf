"""SQLite files that several processes open (the state store, the rate-limit log, the sandbox): WAL mode, and
short write transactions."""

from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from typing import Iterator


def use_wal(db: sqlite3.Connection, *, wait_seconds: float = 30.0) -> None:
    """Switch the connection's database to WAL mode. The switch takes an exclusive lock without calling the busy
    handler, so two processes opening a new file at the same moment can get "database is locked": retry."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A short write transaction, taken at once (BEGIN IMMEDIATE) so two writers never deadlock upgrading a read
    lock. The connection must be in autocommit mode (isolation_level=None)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
