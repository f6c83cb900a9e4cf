"""The MQR ledger: the digests of the keys each billing period queried, per entity, so that a record queried
several times in a period counts once (mqr.py reads usage; runs add digests).

Per sync as well (mqr_sync_keys): the keys each sync queried in a period, and whether the destination held each
after some run of the period (`held`). A key queried and never held bought nothing: the update-only not-found
rows, invalid keys, rows rejected every day. Running totals (mqr_totals, mqr_sync_totals) are kept in the same
transactions, so a report reads a few rows, not millions.

A part of StateStore (a mixin over its connection, write transactions and cached copies)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from ..arrow_values import bools, combined, int64s, strings
from .key_state import Stamp

PRUNE_CHUNK = 20_000  # keys deleted per write transaction when a closed period's keys are pruned
# Keys marked held per write transaction: 10M in one held the lock past two lease renewals of the run
HELD_CHUNK = 500_000
BIND_CHUNK = 50_000  # digests handed to SQLite per statement, not all at once (1M as one text: 20 MB)


class CountedKeys(NamedTuple):
    """The key digests a billing period's ledger holds for an entity."""
    digests: pa.Array
    stamp: Stamp


class SyncKeys(NamedTuple):
    """The key digests a sync queried in a billing period, and which of them the destination held."""
    digests: pa.Array
    held: pa.Array  # bool, aligned with digests
    stamp: Stamp


@dataclass(frozen=True)
class SyncMqr:
    """A sync's MQR in a period: keys it was the first to count, keys it queried, and of those the ones the
    destination held after some run of the period (None for periods before this was kept)."""
    sync_id: str
    first_counted: int
    queried: int | None
    held: int | None

    @property
    def unproductive(self) -> int | None:
        return None if self.queried is None or self.held is None else self.queried - self.held


class MqrLedger:
    def record_queried(self, period_start: str, entity: str, key_digests: pa.Array | Iterable[int], run_id: int,
                       counted: CountedKeys | None = None, *, sync_id: str | None = None) -> int:
        """Add keys to the ledger of the billing period; returns how many were new to it (counted as the
        sync's first counts). With `counted` (the ledger as read before), the cached copy is brought up to date."""
        name = f"mqr:{period_start}:{entity}"
        key_digests = _digests(key_digests)
        with self._write() as db:
            before = db.total_changes
            for chunk in _json_chunks(key_digests):
                db.execute("INSERT OR IGNORE INTO mqr_ledger (period_start, entity, key_digest, first_run_id) "
                           "SELECT ?, ?, value, ? FROM json_each(?)", (period_start, entity, run_id, chunk))
            added = db.total_changes - before
            db.execute("INSERT INTO mqr_totals (period_start, entity, used) VALUES (?, ?, ?) ON CONFLICT "
                       "(period_start, entity) DO UPDATE SET used = used + excluded.used", (period_start, entity, added))
            if sync_id is not None:
                db.execute("INSERT INTO mqr_sync_totals (period_start, sync_id, first_counted) VALUES (?, ?, ?) "
                           "ON CONFLICT (period_start, sync_id) DO UPDATE SET first_counted = first_counted + "
                           "excluded.first_counted", (period_start, sync_id, added))
            version = self._bump(db, name)
        if counted is not None and version == counted.stamp.version + 1:  # nobody else counted keys in between
            self._cache.save(name, version, pa.table({"d": pa.concat_arrays([counted.digests, key_digests])}))
        return added

    def mqr_digests(self, period_start: str, entity: str) -> CountedKeys:
        """The key digests already counted in a billing period for an entity."""
        name = f"mqr:{period_start}:{entity}"
        with self._consistent_read():
            stamp = self._stamp(name)

            def read() -> pa.Table:
                self._drop_earlier_periods(period_start, entity)  # a new period's first read, most often
                return pa.table({"d": int64s([d for (d,) in self._db.execute(
                    "SELECT key_digest FROM mqr_ledger WHERE period_start = ? AND entity = ?", (period_start, entity))])})
            cached = self._read_through(name, stamp, read)
        return CountedKeys(combined(cached.column("d")), stamp)

    def _drop_earlier_periods(self, period_start: str, entity: str) -> None:
        """Runs count keys in the current period only: the copies of earlier periods' digests (8 MB per
        million keys) would only pile up. Their ledger stays in SQLite."""
        for (name,) in self._db.execute("SELECT name FROM state_versions WHERE name LIKE 'mqr:%' AND name < ?",
                                        (f"mqr:{period_start}",)).fetchall():
            if name.endswith(f":{entity}"):
                self._cache.drop(name)

    def mqr_usage(self, period_start: str) -> dict[str, int]:
        """Entity -> distinct keys counted in the period."""
        return dict(self._db.execute("SELECT entity, used FROM mqr_totals WHERE period_start = ? AND used > 0",
                                     (period_start,)).fetchall())

    def mqr_periods(self) -> list[str]:
        """The periods the ledger holds, newest first."""
        return [p for (p,) in self._db.execute("SELECT DISTINCT period_start FROM mqr_totals ORDER BY 1 DESC")]

    def mqr_by_sync(self, period_start: str) -> list[SyncMqr]:
        return [SyncMqr(*row) for row in self._db.execute(
            "SELECT sync_id, first_counted, queried, held FROM mqr_sync_totals WHERE period_start = ? ORDER BY sync_id",
            (period_start,))]

    # ---- per sync ------------------------------------------------------------------------------------------------

    def sync_keys(self, period_start: str, sync_id: str) -> SyncKeys:
        """The digests the sync queried in the period, and which were held (the cached copy if current)."""
        name = f"mqr-sync:{period_start}:{sync_id}"
        with self._consistent_read():
            stamp = self._stamp(name)

            def read() -> pa.Table:
                for (earlier,) in self._db.execute(  # copies of earlier periods would only pile up
                        "SELECT name FROM state_versions WHERE name LIKE 'mqr-sync:%' AND name < ? AND name LIKE ?",
                        (name, f"%:{sync_id}")).fetchall():
                    self._cache.drop(earlier)
                rows = self._db.execute("SELECT key_digest, held FROM mqr_sync_keys WHERE period_start = ? AND "
                                        "sync_id = ?", (period_start, sync_id)).fetchall()
                return pa.table({"d": int64s([r[0] for r in rows]), "h": bools([bool(r[1]) for r in rows])})
            cached = self._read_through(name, stamp, read)
        return SyncKeys(combined(cached.column("d")), combined(cached.column("h")), stamp)

    def record_sync_queried(self, period_start: str, sync_id: str, new_digests: pa.Array | Iterable[int],
                            seen: SyncKeys, *, held: pa.Array | Iterable[int] = ()) -> None:
        """Keys the sync queried for the first time in the period (`seen`: its keys as read before); `held`, more
        of them, already held by the destination (unchanged rows): marked so at once, not by a pass later."""
        name = f"mqr-sync:{period_start}:{sync_id}"
        new_digests, held = _digests(new_digests), _digests(held)
        with self._write() as db:
            counts = []
            for digests, flag in ((new_digests, 0), (held, 1)):
                before = db.total_changes
                for chunk in _json_chunks(digests):
                    db.execute("INSERT OR IGNORE INTO mqr_sync_keys (period_start, sync_id, key_digest, held) "
                               "SELECT ?, ?, value, ? FROM json_each(?)", (period_start, sync_id, flag, chunk))
                counts.append(db.total_changes - before)
            self._add_sync_totals(db, period_start, sync_id, queried=sum(counts), held=counts[1])
            version = self._bump(db, name)
        if version == seen.stamp.version + 1:  # nobody else wrote them in between: the copy follows
            self._cache.save(name, version, pa.table({
                "d": pa.concat_arrays([seen.digests, new_digests, held]),
                "h": pa.concat_arrays([seen.held, bools([False] * len(new_digests)), bools([True] * len(held))])}))

    def mark_held(self, period_start: str, sync_id: str, digests: pa.Array | Iterable[int], seen: SyncKeys) -> None:
        """The destination holds these keys' values after a run of the period (`seen`: the sync's keys as read
        before; pass only digests not yet held there)."""
        digests = _digests(digests)
        if not len(digests):
            return
        name = f"mqr-sync:{period_start}:{sync_id}"
        transactions = range(0, len(digests), HELD_CHUNK)
        for start in transactions:  # each part's flags, totals and version together: a kill leaves them agreeing
            with self._write() as db:
                before = db.total_changes
                for chunk in _json_chunks(digests.slice(start, HELD_CHUNK)):
                    db.execute("UPDATE mqr_sync_keys SET held = 1 WHERE period_start = ? AND sync_id = ? AND "
                               "key_digest IN (SELECT value FROM json_each(?)) AND held = 0",
                               (period_start, sync_id, chunk))
                self._add_sync_totals(db, period_start, sync_id, held=db.total_changes - before)
                version = self._bump(db, name)
        if version == seen.stamp.version + len(transactions):  # nobody else wrote them in between
            held = pc.or_(seen.held, pc.is_in(seen.digests, value_set=digests))
            self._cache.save(name, version, pa.table({"d": seen.digests, "h": held}))

    @staticmethod
    def _add_sync_totals(db, period_start: str, sync_id: str, *, queried: int = 0, held: int = 0) -> None:
        db.execute("INSERT INTO mqr_sync_totals (period_start, sync_id, queried, held) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT (period_start, sync_id) DO UPDATE SET queried = COALESCE(queried, 0) + excluded.queried,"
                   " held = COALESCE(held, 0) + excluded.held", (period_start, sync_id, queried, held))

    # ---- retention -----------------------------------------------------------------------------------------------

    def mqr_periods_with_keys(self) -> list[str]:
        """Periods whose keys (the ledger's or the syncs') are still kept, oldest first: one index seek each."""
        return [p for p in reversed(self.mqr_periods()) if any(self._db.execute(
            f"SELECT 1 FROM {table} WHERE period_start = ? LIMIT 1", (p,)).fetchone()
            for table in ("mqr_ledger", "mqr_sync_keys"))]

    def prune_period_keys(self, period_start: str, max_rows: int) -> int:
        """Delete up to `max_rows` of a closed period's keys, in write transactions of PRUNE_CHUNK rows so that
        runs wait for none of them long; the period's totals (mqr_totals, mqr_sync_totals) stay, and so do its
        figures in every report. Returns the rows deleted (0: none left)."""
        deleted = 0
        for table, column in (("mqr_ledger", "entity"), ("mqr_sync_keys", "sync_id")):
            while deleted < max_rows:
                with self._write() as db:
                    chunk = db.execute(
                        f"DELETE FROM {table} WHERE period_start = ?1 AND ({column}, key_digest) IN (SELECT {column}, "
                        f"key_digest FROM {table} WHERE period_start = ?1 LIMIT ?2)",
                        (period_start, min(PRUNE_CHUNK, max_rows - deleted))).rowcount
                deleted += chunk
                if not chunk:
                    break
        return deleted


def _digests(digests: pa.Array | Iterable[int]) -> pa.Array:
    """Key digests as an int64 Arrow array (the planner gives them so; tests and benchmarks give lists)."""
    return digests if isinstance(digests, pa.Array) else int64s(list(digests))


def _json_chunks(digests: pa.Array) -> Iterator[str]:
    """The digests as JSON arrays of BIND_CHUNK, built by Arrow, for SQLite's json_each: the rows are then made
    in C, in the digests' order (the planner's is ascending: B-tree appends). The insert of 100k digests alone:
    0.06-0.08 s so, 0.17-0.27 s bound a row at a time (docs/benchmarks.md). SQLite reads these integers exactly
    (int64)."""
    comma = strings([","])[0]
    for start in range(0, len(digests), BIND_CHUNK):
        text = pc.cast(digests.slice(start, BIND_CHUNK), pa.string())
        one_list = pa.ListArray.from_arrays(int64s([0, len(text)]).cast(pa.int32()), text)
        yield "[" + pc.binary_join(one_list, comma)[0].as_py() + "]"
