"""Identifiers known to exist in a destination, per look-up scope (credential and identifier kind): what an
update-only run learns from the destination's exports (lookup.py), kept so that most runs export only changes.

A part of StateStore (a mixin over its connection, write transactions and cached copies)."""

from __future__ import annotations

from typing import Iterable, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from .key_state import Stamp


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
            cached = self._read_through(name, stamp, lambda: pa.table({"ident": pa.array(
                [i for (i,) in self._db.execute("SELECT ident FROM known_identifiers WHERE scope = ?", (scope,))],
                pa.string())}))
        return KnownIdentifiers(cached.column("ident").combine_chunks(), times[0], times[1], stamp)

    def save_known_identifiers(self, scope: str, idents: pa.Array, *, exported_at: float, full: bool,
                               known: KnownIdentifiers | None = None) -> pa.Array:
        """Record an export's identifiers: a full export replaces the scope's list, a partial one adds to it.
        Only the difference from `known`, the list as it was read, is written (a full export of 500k users that
        rewrote them all took 4 s), unless someone changed the list since it was read. Returns the list now."""
        name = f"known:{scope}"
        added = idents if known is None else idents.filter(pc.invert(pc.is_in(idents, known.idents)))
        with self._write() as db:
            if full:
                current = db.execute("SELECT version FROM state_versions WHERE name = ?", (name,)).fetchone()
                if known is not None and current is not None and current[0] == known.stamp.version:
                    gone = known.idents.filter(pc.invert(pc.is_in(known.idents, idents)))
                    db.executemany("DELETE FROM known_identifiers WHERE scope = ? AND ident = ?",
                                   ((scope, i) for i in gone.to_pylist()))
                else:
                    db.execute("DELETE FROM known_identifiers WHERE scope = ?", (scope,))
                    added = idents
            db.executemany("INSERT OR IGNORE INTO known_identifiers (scope, ident) VALUES (?, ?)",
                           ((scope, i) for i in added.to_pylist()))
            db.execute("INSERT INTO known_identifier_scopes (scope, full_export_at, last_export_at) VALUES (?, ?, ?) "
                       "ON CONFLICT (scope) DO UPDATE SET last_export_at = excluded.last_export_at, "
                       "full_export_at = CASE WHEN ? THEN excluded.full_export_at ELSE full_export_at END",
                       (scope, exported_at, exported_at, full))
            version = self._bump(db, name)
        listed = pc.unique(idents) if full or known is None else pa.concat_arrays([known.idents, added])
        if full or (known is not None and version == known.stamp.version + 1):  # else another process wrote too
            self._cache.save(name, version, pa.table({"ident": listed}))
        return listed

    def forget_known_identifiers(self, scope: str, idents: Iterable[str]) -> None:
        with self._write() as db:
            db.executemany("DELETE FROM known_identifiers WHERE scope = ? AND ident = ?", ((scope, i) for i in idents))
            self._bump(db, f"known:{scope}")
