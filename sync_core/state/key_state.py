"""A sync's per-key state as the planner reads it, and the changes a run makes to it.

The state is two tables: the snapshot (key, hash of the values the destination confirmed) and the rejection
state (key, hash of the refused values, cause). A run records its changes as it commits them, so that at its
end the next run's copy is built from this run's copy plus the changes, without reading SQLite again.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..arrow_values import int64s, numbers, repeated, scalar, strings

SNAPSHOT_SCHEMA = pa.schema([("key", pa.string()), ("row_hash", pa.string())])
REJECTION_SCHEMA = pa.schema([("key", pa.string()), ("row_hash", pa.string()), ("cause_id", pa.int64())])
# The DuckDB that applies a run's changes at its end may hold this much, then spills (to the store's cache folder).
MEMORY_LIMIT = "64MB"
KEY_STATE_SPILL = "key-state-spill"
_CHANGE_SCHEMA = pa.schema([("seq", pa.int64()), ("kind", pa.string()), ("key", pa.string()),
                            ("row_hash", pa.string()), ("cause_id", pa.int64())])
# Changes held in memory before they are written to the run's spool file as one batch.
SPOOL_ROWS = 50_000


@dataclass(frozen=True)
class Stamp:
    """Which version of a part of the state a copy reflects, and how many of its bumps this process had made
    when it was read: together they tell whether anyone else has written since."""
    name: str
    version: int
    own_bumps: int


@dataclass
class KeyState:
    sync_id: str
    snapshot: pa.Table  # SNAPSHOT_SCHEMA
    rejections: pa.Table  # REJECTION_SCHEMA; row_hash is null for keys the planner refused (duplicates)
    stamp: Stamp
    from_cache: bool = False  # read from the cached copy, not from SQLite


class KeyStateChanges:
    """The snapshot and rejection-state changes of one run, in commit order (the order SQLite applied them).

    They go to a spool file as the run commits them, SPOOL_ROWS at a time, not held in memory: a full sync of 1M
    rows makes 1M changes (about 75 MB as Arrow), of 10M rows ten times that. The file is anonymous (unlinked as
    it is made, in `folder`, else the system's temporary folder), so a crash or a kill leaves nothing behind."""

    def __init__(self, folder: Path | None = None) -> None:
        self._folder = folder
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._seq = 0
        self._spool = None  # the file, made at the first write
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None
        # Why the spool lost changes (its disk full): the run goes on, SQLite has them; no copy is made of them.
        self._lost: OSError | None = None

    def _add(self, kind: str, keys: list[str], hashes: list[str | None] | None = None,
             causes: list[int | None] | None = None) -> None:
        if not keys:
            return
        n = len(keys)
        self._pending.append(pa.record_batch([
            int64s(range(self._seq, self._seq + n)), repeated(kind, n), strings(keys),
            strings(hashes) if hashes else repeated(None, n), int64s(causes) if causes else pa.nulls(n, pa.int64())],
            schema=_CHANGE_SCHEMA))
        self._seq += n
        self._pending_rows += n
        if self._pending_rows >= SPOOL_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self._pending or self._lost is not None:
            self._pending, self._pending_rows = [], 0
            return
        try:
            if self._writer is None:
                self._spool = _anonymous_file(self._folder)
                self._writer = pa.ipc.new_stream(self._spool, _CHANGE_SCHEMA)
            self._writer.write_table(pa.Table.from_batches(self._pending, _CHANGE_SCHEMA).combine_chunks())
        except OSError as exc:  # pyarrow's IO errors are OSErrors too
            self._lost = exc
        self._pending, self._pending_rows = [], 0

    def _reader(self) -> pa.RecordBatchReader:
        """Every change so far, in commit order, read from the spool file a batch at a time; OSError if the spool
        lost some."""
        self._flush()
        if self._lost is not None:
            raise OSError(f"the run's key-state changes could not be spooled: {self._lost}")
        if self._spool is None:
            return pa.RecordBatchReader.from_batches(_CHANGE_SCHEMA, [])
        # Up to the changes written so far: another thread may read while this one appends (runner's held marks)
        fd = self._spool.fileno()
        return pa.ipc.open_stream(io.BufferedReader(_PositionalReader(fd, os.fstat(fd).st_size)))

    def close(self) -> None:
        """Free the spool file (also freed when this object is collected, or the process ends)."""
        if self._spool is not None:
            self._writer.close()
            self._spool.close()
            self._spool = self._writer = None
        self._pending, self._pending_rows, self._seq, self._lost = [], 0, 0, None

    def synced(self, pairs: Iterable[tuple[str, str]]) -> None:
        pairs = list(pairs)
        self._add("synced", [k for k, _ in pairs], [h for _, h in pairs])

    def rejected(self, rows: Iterable[tuple[str, str | None, int]]) -> None:
        rows = list(rows)
        self._add("rejected", [k for k, _, _ in rows], [h for _, h, _ in rows], [c for _, _, c in rows])

    def removed(self, keys: Iterable[str]) -> None:
        self._add("removed", list(keys))

    def forgotten(self, keys: Iterable[str]) -> None:
        self._add("forgotten", list(keys))

    def synced_keys(self) -> pa.RecordBatchReader:
        """The keys this run confirmed (entered the snapshot), as batches of one column `key`, streamed from the
        spool file (10M keys at once would be about 300 MB). OSError if the spool lost some."""
        schema = pa.schema([("key", pa.string())])
        synced = scalar("synced")
        changes = self._reader()

        def batches() -> Iterator[pa.RecordBatch]:
            with changes as reader:
                for batch in reader:
                    yield pa.record_batch([batch.column(2).filter(pc.equal(batch.column(1), synced))], schema=schema)
        return pa.RecordBatchReader.from_batches(schema, batches())

    def apply(self, snapshot: pa.Table, rejections: pa.Table,
              save: Callable[[str, pa.RecordBatchReader], None], *, spill: Path | None = None) -> bool:
        """The two tables after this run's changes, as SQLite holds them now, handed to `save` ("snapshot", then
        "rejections") as batches to write as they come: a million keys are never held twice. A synced key enters
        the snapshot and leaves the rejection state; a removed key leaves the snapshot; a rejected key's state is
        replaced; a forgotten key leaves the rejection state. The latest change of a key wins. DuckDB holds at
        most MEMORY_LIMIT, past it spills to `spill` (a run's end at 1M keys took about 100 MB unbounded).
        False if DuckDB could not (the spill folder's disk full): the copies are then not current, and the next
        run reads SQLite, as after any copy that could not be written."""
        if self._seq == 0:
            save("snapshot", snapshot.to_reader())
            save("rejections", rejections.to_reader())
            return True
        try:
            self._apply(snapshot, rejections, save, spill)
        except (duckdb.Error, OSError):  # the spill folder cannot be made either
            return False
        return True

    def _apply(self, snapshot: pa.Table, rejections: pa.Table, save: Callable[[str, pa.RecordBatchReader], None],
               spill: Path | None) -> None:
        config = {"memory_limit": MEMORY_LIMIT}
        if spill is not None:
            spill.mkdir(parents=True, exist_ok=True)
            config["temp_directory"] = str(spill)
        with duckdb.connect(config=config) as con:
            # DuckDB draws a progress bar on stdout (a terminal or not) for a statement past 2 s, as a 1M-key full
            # sync's application is under load: it broke `sync-core run --json`'s output.
            con.execute("SET enable_progress_bar = false")
            con.register("snap", snapshot)
            con.register("rej", rejections)
            # One after the other: a connection streams one result at a time.
            save("snapshot", self._latest(con, "snap", snapshot.num_rows, ("synced", "removed"), "synced",
                                          "key, row_hash").cast(SNAPSHOT_SCHEMA))
            save("rejections", self._latest(con, "rej", rejections.num_rows, ("rejected", "synced", "forgotten"),
                                            "rejected", "key, row_hash, cause_id").cast(REJECTION_SCHEMA))

    def _latest(self, con: duckdb.DuckDBPyConnection, before: str, rows_before: int, kinds: tuple[str, ...],
                kept: str, columns: str) -> pa.RecordBatchReader:
        """Table `before` with the run's changes of `kinds` applied: a key's latest change wins, and keeps the key
        (with that change's values) if it is of kind `kept`, else leaves it out. Each statement reads the spool
        file anew (a reader is read once)."""
        listed = ", ".join(f"'{kind}'" for kind in kinds)
        if self._no_key_twice(con, listed):
            # Each change is its key's latest: no window to order them, which over a full sync's 1M changes
            # spilled for seconds in MEMORY_LIMIT, or failed ("could not pin block") and left no copy.
            con.register("changes", self._reader())
            kept_rows = f"SELECT {columns} FROM changes WHERE kind = '{kept}'"
            if rows_before == 0:  # a first run: the copy is its changes, streamed
                return con.sql(kept_rows).to_arrow_reader()
            con.register("changed", self._reader())
            return con.sql(f"SELECT {columns} FROM {before} ANTI JOIN (SELECT key FROM changed WHERE kind IN "
                           f"({listed})) USING (key) UNION ALL {kept_rows}").to_arrow_reader()
        con.register("changes", self._reader())
        return con.sql(f"""
            WITH c AS (SELECT * FROM changes WHERE kind IN ({listed})
                       QUALIFY row_number() OVER (PARTITION BY key ORDER BY seq DESC) = 1)
            SELECT {columns} FROM {before} ANTI JOIN c USING (key)
            UNION ALL SELECT {columns} FROM c WHERE kind = '{kept}'""").to_arrow_reader()

    def _no_key_twice(self, con: duckdb.DuckDBPyConnection, listed: str) -> bool:
        """Whether no key has two changes among these kinds, told by a 64-bit hash of each key, sorted (8 bytes a
        change: 8 MB for 1M, where DuckDB grouping the keys' text spills). Two keys of one hash read as a key
        changed twice: the exact path then runs, never a wrong copy."""
        con.register("changes", self._reader())
        parts = [numbers(batch.column(0)) for batch in
                 con.sql(f"SELECT hash(key) FROM changes WHERE kind IN ({listed})").to_arrow_reader()]
        hashes = np.concatenate(parts) if parts else np.empty(0, np.uint64)
        del parts
        hashes.sort()  # in place: 8 bytes a change in all
        return not bool((hashes[1:] == hashes[:-1]).any())


def _anonymous_file(folder: Path | None):
    """A file for the spool, already unlinked; in `folder` if it can be made there, else the temporary folder."""
    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return tempfile.TemporaryFile(dir=folder, buffering=0)
        except OSError:
            pass
    return tempfile.TemporaryFile(buffering=0)


class _PositionalReader(io.RawIOBase):
    """Reads an open file from its start up to `end` at an offset of its own (pread), so that reading the spool
    never moves the offset its writer appends at, nor meets a batch still being appended."""

    def __init__(self, fd: int, end: int) -> None:
        self._fd, self._offset, self._end = fd, 0, end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = os.pread(self._fd, min(len(buffer), self._end - self._offset), self._offset)
        buffer[:len(data)] = data
        self._offset += len(data)
        return len(data)
