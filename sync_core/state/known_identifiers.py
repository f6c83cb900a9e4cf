"""Identifiers known to exist in a destination, per look-up scope (credential and identifier kind): what an
update-only run learns from the destination's exports (lookup.py), kept so that most runs export only changes.

A part of StateStore (a mixin over its connection, write transactions and cached copies)."""

from __future__ import annotations

from typing import Iterable, Iterator, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from ..arrow_values import combined
from .bulk_cache import FETCH_ROWS, read_table
from .key_state import Stamp

_IDENTS = pa.schema([("ident", pa.string())])


class KnownIdentifiers(NamedTuple):
    idents: pa.Array
    full_export_at: float  # epoch seconds when the last full export began
    last_export_at: float  # when the last export (full or of changes) began
    stamp: Stamp


class KnownIdentifierCache:
    def known_identifiers(self, scope: str) -> KnownIdentifiers | None:
        """The identifiers known to exist in a look-up scope, or None if it was never looked up."""
        name = f"known:{scope}"
        with self._consistent_read():
            times = self._db.execute("SELECT full_export_at, last_export_at FROM known_identifier_scopes "
                                     "WHERE scope = ?", (scope,)).fetchone()
            if times is None:
                return None
            stamp = self._stamp(name)
            cached = self._read_through(name, stamp, lambda: read_table(
                self._db.execute("SELECT ident FROM known_identifiers WHERE scope = ?", (scope,)), _IDENTS))
        return KnownIdentifiers(combined(cached.column("ident")), times[0], times[1], stamp)

    def save_known_identifiers(self, scope: str, idents: pa.Array, *, exported_at: float, full: bool,
                               known: KnownIdentifiers | None = None) -> pa.Array:
        """Record an export's identifiers: a full export replaces the scope's list, a partial one adds to it.
        Only the difference from `known`, the list as it was read before the export began, is written (a full
        export of 500k users that rewrote them all took 4 s). So a full export removes what was known before it
        and it lacks; what others added since the read stays (a sync confirmed users it created, maybe after the
        export began; one that is gone after all is refused not found by its next write, and forgotten then,
        lookup.py). Returns the list now."""
        name = f"known:{scope}"
        added = idents if known is None else idents.filter(pc.invert(pc.is_in(idents, known.idents)))
        with self._write() as db:
            current = db.execute("SELECT version FROM state_versions WHERE name = ?", (name,)).fetchone()
            unchanged = known is not None and current is not None and current[0] == known.stamp.version
            if full and known is not None:
                gone = known.idents.filter(pc.invert(pc.is_in(known.idents, idents)))
                db.executemany("DELETE FROM known_identifiers WHERE scope = ? AND ident = ?",
                               ((scope, i) for i in _values(gone)))
            elif full and known is None:
                db.execute("DELETE FROM known_identifiers WHERE scope = ?", (scope,))  # rows a crash left
            db.executemany("INSERT OR IGNORE INTO known_identifiers (scope, ident) VALUES (?, ?)",
                           ((scope, i) for i in _values(added)))
            db.execute("INSERT INTO known_identifier_scopes (scope, full_export_at, last_export_at) VALUES (?, ?, ?) "
                       "ON CONFLICT (scope) DO UPDATE SET last_export_at = excluded.last_export_at, "
                       "full_export_at = CASE WHEN ? THEN excluded.full_export_at ELSE full_export_at END",
                       (scope, exported_at, exported_at, full))
            version = self._bump(db, name)
        if not unchanged and known is not None:  # someone else wrote too: the list is what the store holds now
            return self.known_identifiers(scope).idents
        listed = pc.unique(idents) if full or known is None else pa.concat_arrays([known.idents, added])
        self._cache.save(name, version, pa.table({"ident": listed}))
        return listed

    def add_known_identifiers(self, scope: str, idents: Iterable[str]) -> None:
        """Identifiers a write has just shown to exist, added to a scope that is looked up (else nothing)."""
        name = f"known:{scope}"
        # Most scopes are never looked up: then no write transaction per batch. A scope, once looked up, stays.
        if self._db.execute("SELECT 1 FROM known_identifier_scopes WHERE scope = ?", (scope,)).fetchone() is None:
            return
        with self._write() as db:
            before = db.total_changes
            db.executemany("INSERT OR IGNORE INTO known_identifiers (scope, ident) VALUES (?, ?)",
                           ((scope, i) for i in idents))
            if db.total_changes != before:
                self._bump(db, name)

    def forget_known_identifiers(self, scope: str, idents: Iterable[str]) -> None:
        with self._write() as db:
            db.executemany("DELETE FROM known_identifiers WHERE scope = ? AND ident = ?", ((scope, i) for i in idents))
            self._bump(db, f"known:{scope}")

    def backdate_lookups(self, seconds: float) -> None:
        """Make every scope's last look-up `seconds` older, so that a run within the reuse window exports again:
        for a destination changed behind the syncs' back (the demo's simulated days). Its export of changes
        then starts that much earlier too, which only repeats some users."""
        with self._write() as db:
            db.execute("UPDATE known_identifier_scopes SET last_export_at = last_export_at - ?", (seconds,))


def _values(idents: pa.Array) -> Iterator[str]:
    """An array's values, turned into Python strings FETCH_ROWS at a time (a full export's 1M at once: about 80 MB)."""
    for start in range(0, len(idents), FETCH_ROWS):
        yield from idents.slice(start, FETCH_ROWS).to_pylist()
