"""Exact copies of bulk state (a sync's snapshot and rejection keys, known identifiers, MQR digests) as Arrow
files next to the state store, so that a run reads a million keys in a few milliseconds instead of seconds.

SQLite stays the truth: every write goes there first, in its transaction. A copy carries the identity of the
store and the version of the state it reflects, and is used only while both are current; otherwise the caller
reads SQLite and writes a fresh copy. So a stale or missing copy costs time, never correctness: a crash between
the SQLite commit and the copy's write leaves an old version that is simply not used. Versions count per store
file, so a version alone does not say which state: a backup put back, or another workspace's file, reaches the
same numbers with other contents; its identity differs (schema.py, migration 7; each backup gets its own).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
from pathlib import Path

import pyarrow as pa

from ..arrow_values import array

VERSION_KEY = b"sync_core.version"
# Rows of SQLite turned into Arrow at a time: 1M keys as Python tuples at once would be about 200 MB.
FETCH_ROWS = 50_000
IDENTITY_KEY = b"sync_core.store"


def cache_folder(state_path: Path) -> Path:
    """Where the copies of a state store's bulk state live (`.sync-state/state-cache/`)."""
    return state_path.with_name(state_path.stem + "-cache")


class BulkCache:
    def __init__(self, folder: Path, *, identity: str | None, read_only: bool = False):
        self.folder = folder
        self.identity = identity  # the store's; None (a store not migrated yet): no copy is used or written
        self.read_only = read_only  # a read-only open of the store writes no copy either

    def _stamp(self, version: int) -> dict[bytes, bytes]:
        return {VERSION_KEY: str(version).encode(), IDENTITY_KEY: str(self.identity).encode()}

    def _file(self, name: str) -> Path:
        return self.folder / (hashlib.sha256(name.encode()).hexdigest()[:24] + ".arrow")

    def load(self, name: str, version: int) -> pa.Table | None:
        """The copy of `name` if it reflects `version` of this store's state, else None."""
        if self.identity is None:
            return None
        try:
            with pa.memory_map(str(self._file(name))) as source:
                reader = pa.ipc.open_file(source)
                metadata = reader.schema.metadata or {}
                if any(metadata.get(key) != value for key, value in self._stamp(version).items()):
                    return None
                return reader.read_all()
        except (FileNotFoundError, pa.ArrowInvalid):  # never written, or cut short by a crash before the rename
            return None

    def save(self, name: str, version: int, data: pa.Table | pa.RecordBatchReader) -> None:
        """Write a copy atomically: readers see the old file or the new one, never a part. A copy that cannot be
        written (a full disk, a read-only folder) is skipped: it only saves time. A reader's batches are written
        as they come, never all held at once."""
        if self.read_only or self.identity is None:
            return
        target = self._file(name)
        temporary = target.with_suffix(f".{os.getpid()}.tmp")
        batches = data.to_reader() if isinstance(data, pa.Table) else data
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            schema = batches.schema.with_metadata(self._stamp(version))
            with pa.OSFile(str(temporary), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
                for batch in batches:
                    writer.write_batch(batch)
            os.replace(temporary, target)
        except OSError:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
        except BaseException:  # the reader failed: no part of a copy is left behind
            temporary.unlink(missing_ok=True)
            raise

    def drop(self, name: str) -> None:
        self._file(name).unlink(missing_ok=True)


def read_table(cursor: sqlite3.Cursor, schema: pa.Schema) -> pa.Table:
    """A query's rows as an Arrow table of `schema` (its columns in order), FETCH_ROWS at a time."""
    chunks = []
    while rows := cursor.fetchmany(FETCH_ROWS):
        chunks.append(pa.record_batch([array(column, field.type) for column, field in zip(zip(*rows), schema)],
                                      schema=schema))
    return pa.Table.from_batches(chunks, schema)
