"""Which records exist in the destination, for syncs that only write to existing records (update-only).

Exporting every identifier on every run costs as much as the export is long (500k users: seconds, and a
slot of Iterable's 4-per-minute export limit). So the identifiers are kept in the state store: a full export
at least every FULL_EXPORT_EVERY, and in between an export of the users whose profile changed since the last
export began (new users have a fresh profile), with an overlap for clock differences.

Users this tool wrote after an export began are in the next export of changes too (writing updates their
profile), so the run after a large write exports about as much as a full export; steady daily runs export
only the day's changes.

A user deleted in the destination stays in the list until the next full export. That costs nothing wrong:
the write is sent with update-only semantics, the destination reports the user not found, the row is rejected
as not found (expected), and the identifier is forgotten then.
"""

from __future__ import annotations

import pyarrow as pa

from .clock import Clock
from .destinations.base import DestinationObject
from .executor import Executor
from .state import StateStore

FULL_EXPORT_EVERY = 7 * 86_400
OVERLAP = 600  # an export of changes starts this long before the previous one began: clock differences


def existing_identifiers(store: StateStore, destination: DestinationObject, executor: Executor, clock: Clock, *,
                         full: bool = False) -> tuple[pa.Array, str]:
    """The identifiers that exist now, and a note saying how they were learned."""
    scope = destination.lookup_scope
    known = store.known_identifiers(scope)
    started = clock.now()
    what = f"{destination.name}: look up existing records"
    if full or known is None or started - known[1] > FULL_EXPORT_EVERY:
        idents = executor.call(lambda: destination.existing(None), what)
        store.save_known_identifiers(scope, idents, exported_at=started, full=True)
        return idents, f"Looked up all {len(idents):,} existing records (full export)."
    cached, _, last_export = known
    changed = executor.call(lambda: destination.existing(last_export - OVERLAP), what)
    store.save_known_identifiers(scope, changed, exported_at=started, full=False)
    return pa.concat_arrays([cached, changed]), (
        f"Looked up existing records: {len(cached):,} known, {len(changed):,} new or updated since the last look-up.")
