"""A sandbox's SQLite file and the migration runner every part of the sandbox registers its schema with.

The file is opened in WAL mode with a 10 s busy timeout and every write is one short `BEGIN IMMEDIATE`
transaction, so a demo script can create users while a server runs. Within a process one connection is shared
behind a lock.

Each part (the request log, the faults, each vendor) owns a `Schema`: its name and a list of migrations. The
file records each part's version in `schema_versions`, so a vendor's migrations never renumber another's.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ...wal import use_wal, write_transaction

# PRAGMA user_version of a file whose versions are in schema_versions. Files written before kept one version
# for everything in user_version (1 or 2); code from then refuses this one, as it refuses any newer file.
PER_SCHEMA_VERSIONS = 3


@dataclass(frozen=True)
class Schema:
    """One part's tables: migration N is the list of statements that brings the part from version N-1 to N."""

    name: str
    migrations: tuple[tuple[str, ...], ...]
    # For files from before per-schema versions: their user_version -> the version this part was at.
    legacy_versions: dict[int, int] = field(default_factory=dict)

    @property
    def version(self) -> int:
        return len(self.migrations)


class SandboxDatabase:
    """The SQLite file, migrated to the schemas of `SCHEMAS` (each subclass adds its own)."""

    SCHEMAS: tuple[Schema, ...] = ()

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA busy_timeout = 10000")
        use_wal(self._db)
        self._db.execute("PRAGMA synchronous = NORMAL")  # WAL stays consistent; skips fsyncs
        with self._write() as db:
            migrate(db, self.path, self.SCHEMAS)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock, write_transaction(self._db) as db:
            yield db

    def _read(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()


def migrate(db: sqlite3.Connection, path: Path, schemas: tuple[Schema, ...]) -> None:
    """Bring every schema to its latest version, inside the caller's write transaction."""
    layout = db.execute("PRAGMA user_version").fetchone()[0]
    if layout > PER_SCHEMA_VERSIONS:
        raise RuntimeError(f"{path} has schema version {layout}; this code knows {PER_SCHEMA_VERSIONS}")
    db.execute("CREATE TABLE IF NOT EXISTS schema_versions (name TEXT PRIMARY KEY, version INTEGER NOT NULL)")
    versions = dict(db.execute("SELECT name, version FROM schema_versions").fetchall())
    if layout < PER_SCHEMA_VERSIONS:  # a new file (0) or one from before per-schema versions
        versions = {schema.name: schema.legacy_versions.get(layout, 0) for schema in schemas}
    for schema in schemas:
        done = versions.get(schema.name, 0)
        if done > schema.version:
            raise RuntimeError(f"{path} has {schema.name} schema version {done}; this code knows {schema.version}")
        for statements in schema.migrations[done:]:
            for statement in statements:
                db.execute(statement)
        db.execute("INSERT INTO schema_versions (name, version) VALUES (?, ?)"
                   " ON CONFLICT (name) DO UPDATE SET version = excluded.version", (schema.name, schema.version))
    db.execute(f"PRAGMA user_version = {PER_SCHEMA_VERSIONS}")
