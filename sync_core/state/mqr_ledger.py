"""The MQR ledger: the digests of the keys each billing period queried, per entity, so that a record queried
several times in a period counts once (mqr.py reads usage; runs add digests).

A part of StateStore (a mixin over its connection, write transactions and cached copies)."""

from __future__ import annotations

from typing import Iterable, NamedTuple

import pyarrow as pa

from .key_state import Stamp


class CountedKeys(NamedTuple):
    """The key digests a billing period's ledger holds for an entity."""
    digests: pa.Array
    stamp: Stamp


class MqrLedger:
    def record_queried(self, period_start: str, entity: str, key_digests: Iterable[int], run_id: int,
                       counted: CountedKeys | None = None) -> int:
        """Add keys to the ledger of the billing period; returns how many were new to it. With `counted` (the
        ledger as read before), the cached copy is brought up to date too."""
        name = f"mqr:{period_start}:{entity}"
        key_digests = list(key_digests)
        with self._write() as db:
            before = db.total_changes
            db.executemany("INSERT OR IGNORE INTO mqr_ledger (period_start, entity, key_digest, first_run_id) "
                           "VALUES (?, ?, ?, ?)", ((period_start, entity, d, run_id) for d in key_digests))
            added = db.total_changes - before
            version = self._bump(db, name)
        if counted is not None and version == counted.stamp.version + 1:  # nobody else counted keys in between
            self._cache.save(name, version, pa.table({"d": pa.concat_arrays(
                [counted.digests, pa.array(key_digests, pa.int64())])}))
        return added

    def mqr_digests(self, period_start: str, entity: str) -> CountedKeys:
        """The key digests already counted in a billing period for an entity."""
        name = f"mqr:{period_start}:{entity}"
        with self._consistent_read():
            stamp = self._stamp(name)

            def read() -> pa.Table:
                self._drop_earlier_periods(period_start, entity)  # a new period's first read, most often
                return pa.table({"d": pa.array([d for (d,) in self._db.execute(
                    "SELECT key_digest FROM mqr_ledger WHERE period_start = ? AND entity = ?", (period_start, entity))],
                    pa.int64())})
            cached = self._read_through(name, stamp, read)
        return CountedKeys(cached.column("d").combine_chunks(), stamp)

    def _drop_earlier_periods(self, period_start: str, entity: str) -> None:
        """Runs count keys in the current period only: the copies of earlier periods' digests (8 MB per
        million keys) would only pile up. Their ledger stays in SQLite."""
        for (name,) in self._db.execute("SELECT name FROM state_versions WHERE name LIKE 'mqr:%' AND name < ?",
                                        (f"mqr:{period_start}",)).fetchall():
            if name.endswith(f":{entity}"):
                self._cache.drop(name)

    def mqr_usage(self, period_start: str) -> dict[str, int]:
        rows = self._db.execute("SELECT entity, COUNT(*) FROM mqr_ledger WHERE period_start = ? GROUP BY entity",
                                (period_start,)).fetchall()
        return dict(rows)
