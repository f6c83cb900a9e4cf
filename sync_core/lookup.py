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

import threading

import pyarrow as pa
import pyarrow.compute as pc

from .clock import Clock
from .destinations.base import BatchRejected, ExistenceExport, TransientError
from .errors import DestinationError, DestinationUnavailable
from .executor import Executor
from .state import StateStore

FULL_EXPORT_EVERY = 7 * 86_400
OVERLAP = 600  # an export of changes starts this long before the previous one began: clock differences


class PendingLookup:
    """An export of identifiers running in the background (the destination works while the model is queried
    and hashed here); `result` waits for it and records what it learned."""

    def __init__(self, store: StateStore, destination: ExistenceExport, executor: Executor, clock: Clock, *,
                 full: bool = False):
        self.store, self.scope = store, destination.lookup_scope
        self.known = store.known_identifiers(self.scope)
        self.started = clock.now()
        self.full = full or self.known is None or self.started - self.known.full_export_at > FULL_EXPORT_EVERY
        since = None if self.full else self.known.last_export_at - OVERLAP
        what = f"{destination.name}: look up existing records"
        self._found: pa.Array | None = None
        self._new: pa.Array | None = None  # of an export of changes: the identifiers not known yet
        self._error: BaseException | None = None

        def export() -> None:
            try:
                self._found = executor.call(lambda: destination.existing(since), what)
                if not self.full:  # here, not in result(): the comparison runs beside the query too
                    self._new = self._found.filter(pc.invert(pc.is_in(self._found, self.known.idents)))
            except TransientError as exc:  # past the executor's retries
                self._error = DestinationUnavailable(
                    destination.name, exc.code, f"the look-up of existing records failed {executor.max_attempts} "
                    f"times, the last with: {exc.message}", "Nothing was sent: the next run tries again. If it "
                    "keeps failing, check the vendor's status page and the destination's base_url")
            except BatchRejected as exc:
                self._error = DestinationError(
                    destination.name, exc.code, f"the look-up of existing records was refused: {exc.message}",
                    "Nothing was sent. Check that the API key may export users (a server-side key)")
            except BaseException as exc:  # raised again in the caller's thread, by result()
                self._error = exc

        self._thread = threading.Thread(target=export, name="lookup", daemon=True)
        self._thread.start()

    def result(self) -> tuple[pa.Array, str]:
        """The identifiers that exist now, and a note saying how they were learned."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        found = self._found
        if self.full:
            listed = self.store.save_known_identifiers(self.scope, found, exported_at=self.started, full=True,
                                                       known=self.known)
            return listed, f"Looked up all {len(found):,} existing records (full export)."
        listed = self.store.save_known_identifiers(self.scope, self._new, exported_at=self.started, full=False,
                                                   known=self.known)
        return listed, (
            f"Looked up existing records: {len(self._new):,} new since the last look-up ({len(found):,} updated "
            f"since then), {len(listed):,} known in all.")
