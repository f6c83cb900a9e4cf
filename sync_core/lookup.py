"""Which records exist in the destination, for syncs that only write to existing records (update-only).

Exporting every identifier on every run costs as much as the export is long (500k users: seconds, and a
slot of Iterable's 4-per-minute export limit). So the identifiers are kept in the state store: a full export
at least every FULL_EXPORT_EVERY, and in between an export of the users whose profile changed since the last
export began (new users have a fresh profile), with an overlap for clock differences.

One export serves every update-only sync of a credential: it carries every identifier kind the destination
looks records up by (Iterable: email and userId, each kept in its own scope), and a run whose scope was
exported less than the destination's `lookup_max_age` ago uses that list without exporting, unless that sync
already ran since the export began (a rerun looks up again: its user may have just created someone). The demo's first
start (three simulated days of four syncs) so needs one export a day, not one a run, and never waits for the
export limit. The price is bounded: a user the product creates after the export is reported not found by a
run that reuses it (expected, and checked again next run), at most `lookup_max_age` after the export.
A user a sync itself creates (upsert) is added to the list when the destination confirms the write
(`remember_confirmed`), so no other sync reports it missing.

Users this tool wrote after an export began are in the next export of changes too (writing updates their
profile), so the run after a large write exports about as much as a full export; steady daily runs export
only the day's changes.

A destination that cannot list who exists but looks identifiers up a few hundred a call (Marketo's leads) is
asked about the rows to send instead, once they are planned (look_up_planned).

A user deleted in the destination stays in the list until the next full export. That costs nothing wrong:
the write is sent with update-only semantics, the destination reports the user not found, the row is rejected
as not found (expected), and the identifier is forgotten then.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from .arrow_values import empty
from .clock import Clock
from .destinations.base import BatchRejected, ExistenceExport, ExistenceLookup, TransientError
from .errors import DestinationError, DestinationUnavailable
from .executor import Executor
from .plan import Plan
from .rows import PlannedRow
from .state import StateStore

FULL_EXPORT_EVERY = 7 * 86_400
LOOKUP_CHUNK = 3_000  # identifiers asked of an ExistenceLookup between two checks of the run's cancel token
OVERLAP = 600  # an export of changes starts this long before the previous one began: clock differences


class PendingLookup:
    """The identifiers that exist, for one run: the list another run of the credential exported less than the
    destination's `lookup_max_age` ago, or an export running in the background (the destination works while
    the model is queried and hashed here); `result` waits for it and records what it learned."""

    def __init__(self, store: StateStore, destination: ExistenceExport, executor: Executor, clock: Clock, *,
                 sync_id: str, run_id: int, full: bool = False):
        self.store, self.scope = store, destination.lookup_scope
        self.started = clock.now()
        self.known = {scope: store.known_identifiers(scope) for scope in destination.lookup_scopes.values()}
        own = self.known[self.scope]
        self.age = None if own is None or full else self.started - own.last_export_at
        if (self.age is not None and 0 <= self.age <= destination.lookup_max_age
                and not _ran_since(store, sync_id, run_id, own.last_export_at)):
            self.reused = own
            return
        self.reused = None
        self.full = full or any(k is None or self.started - k.full_export_at > FULL_EXPORT_EVERY
                                for k in self.known.values())
        since = None if self.full else min(k.last_export_at for k in self.known.values()) - OVERLAP
        what = f"{destination.name}: look up existing records"
        self._found: dict[str, pa.Array] = {}
        self._new: dict[str, pa.Array] = {}  # of an export of changes: the identifiers not known yet, per scope
        self._error: BaseException | None = None

        def export() -> None:
            try:
                self._found = executor.call(lambda: destination.existing(since), what)
                if not self.full:  # here, not in result(): the comparison runs beside the query too
                    self._new = {scope: found.filter(pc.invert(pc.is_in(found, self.known[scope].idents)))
                                 for scope, found in self._found.items()}
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
        if self.reused is not None:
            return self.reused.idents, (
                f"Used the look-up of existing records made {self.age:,.0f} s ago for this credential's update-only "
                f"syncs: {len(self.reused.idents):,} known, no export.")
        self._thread.join()
        if self._error is not None:
            raise self._error
        listed = {}
        for scope, found in self._found.items():  # every scope of the export, not only this run's
            listed[scope] = self.store.save_known_identifiers(
                scope, found if self.full else self._new[scope], exported_at=self.started, full=self.full,
                known=self.known[scope])
        found, mine = self._found[self.scope], listed[self.scope]
        if self.full:
            return mine, f"Looked up all {len(found):,} existing records (full export)."
        return mine, (
            f"Looked up existing records: {len(found):,} changed since the last look-up, {len(self._new[self.scope]):,} "
            f"of them new; {len(mine):,} known in all.")


def _ran_since(store: StateStore, sync_id: str, run_id: int, exported_at: float) -> bool:
    """Whether the sync's previous run ended after the export began: it made or used that export, so its rerun
    (a user who just created someone in the destination and runs the sync again) looks up again."""
    for run in store.list_runs(sync_id=sync_id, limit=10):
        if run.id != run_id and run.finished_at and run.run_type == "sync":
            finished = datetime.fromisoformat(run.finished_at)
            # Stored to the second, cut short: one second more errs toward a fresh export.
            return finished.replace(tzinfo=finished.tzinfo or timezone.utc).timestamp() + 1 > exported_at
    return False


def remember_confirmed(store: StateStore, destination: ExistenceExport, rows: Sequence[PlannedRow]) -> None:
    """Identifiers a sync that may create records (not update-only) just wrote, and the destination confirmed:
    they exist now, whatever an earlier export said, so an update-only sync reusing that export finds them. Only
    kept for a credential some update-only sync looks up (else nobody reads the list)."""
    if rows and destination.lookup_scope is None:
        # a generator: normalized only when the scope is looked up (add_known_identifiers reads it then)
        store.add_known_identifiers(destination.known_scope, (destination.normalize(r.match_value) for r in rows))


def look_up_planned(plan: Plan, destination: ExistenceLookup, executor: Executor,
                    check_cancel: Callable[[], None]) -> pa.Array | None:
    """Which identifiers of the rows to send name a record, asked of a destination that looks them up a few hundred
    a call (Marketo), before anything is sent: the other rows are then refused as not found with no call, and each
    request is filled with rows it writes (Marketo: 300 activities an add, where a batch of 300 rows looked up on
    its own sent only those of its rows that had a lead). None when a look-up still fails after its retries: the
    rows then go to the destination unchecked, and it looks up each batch itself as it sends it (a failure there
    leaves that batch's rows failed, not the whole run)."""
    wanted = plan.identifiers_to_send(destination.identifier_rule())
    found = []
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        check_cancel()
        chunk = wanted.slice(start, LOOKUP_CHUNK)
        try:
            found.append(executor.call(lambda: destination.existing_among(chunk),
                                       f"{destination.name}: look up existing records"))
        except TransientError:
            return None
    return pa.concat_arrays(found) if found else empty(pa.string())
