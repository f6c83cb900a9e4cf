"""What a run needs of a plan, whoever computed it: the local planner (planner.py: the model's rows diffed in an
in-process DuckDB) today, a warehouse-side planner (the snapshot kept in Snowflake and the diff run there, so
only changed rows leave it) next. The runner depends on this contract only.

The contract is rows in, plan out: counts that keep the invariant, the problems found before sending, the keys
that leave the snapshot, and the rows to send or refuse, streamed in batches."""

from __future__ import annotations

from typing import Iterator, NamedTuple, Protocol, Sequence

import pyarrow as pa

from .counts import RunCounts
from .destinations.base import DestinationObject, IdentifierRule
from .outcomes import RowProblem
from .rows import PlannedRow


class SyncDigests(NamedTuple):
    """MQR digests (int64, ascending) of a plan's keys not yet among the sync's keys of the billing period."""
    queried: pa.Array  # keys whose rows are not unchanged
    held: pa.Array  # keys whose rows are unchanged: the destination holds them as they are


class Plan(Protocol):
    counts: RunCounts  # queried, invalid, unchanged, and every planned row as not attempted
    fingerprint: str  # the sync's config fingerprint the plan was made with
    notes: list[str]  # what the user should read before the rows are sent (a config change, a full resync)
    invalid: list[RowProblem]  # rows refused before sending: null keys, duplicated keys, keys naming one record
    invalid_synced_keys: list[str]  # keys of the snapshot whose rows are invalid now: they leave it
    removed_keys: list[str]  # keys of the snapshot the model no longer returns
    rejections_not_in_model: list[str]  # keys with a rejection state the model no longer returns

    def key_digests(self, already_counted: pa.Array | None = None) -> pa.Array:
        """MQR digests of the distinct keys queried, less those `already_counted` in the period's ledger."""

    def sync_digests(self, already_seen: pa.Array | None = None) -> SyncDigests:
        """MQR digests of the distinct keys queried that are not `already_seen` among the sync's keys of the
        period, split by whether their rows are unchanged or not."""

    def held_digests(self, synced_keys: pa.RecordBatchReader, already_held: pa.Array) -> pa.Array:
        """MQR digests of the keys the destination holds after the run (unchanged rows, and `synced_keys`: batches
        of one column `key`, read once), less those `already_held`."""

    def check_rows(self, destination: DestinationObject, existing: pa.Array | None) -> dict[str, int]:
        """Refuse, without a call, rows the destination cannot take (destinations.base.REFUSALS); returns the
        number refused per kind. `existing`: the identifiers known to exist (update-only), else None."""

    def repeated_refusals(self, causes: dict[str, int]) -> dict[str, tuple[int, list[str]]]:
        """Per refusal kind, the retried rows refused for the same cause as last time: (rows, example keys)."""

    def refused(self, batch_rows: int) -> Iterator[list[tuple[str, PlannedRow]]]:
        """(kind, row) of the other refused rows, a batch at a time."""

    def rows(self, batch_rows: int, destination: DestinationObject | None = None) -> Iterator[Sequence[PlannedRow]]:
        """The rows to send, a batch at a time, in model order: rows.RowColumns with each row's request part
        encoded when `destination` encodes column-wise (destinations.base.ColumnEncoding), else PlannedRow
        objects with their values."""

    def identifiers(self, rule: IdentifierRule) -> pa.Array:
        """The distinct, non-empty identifiers of the model's valid rows (not refused for their key), spelled by
        `rule`: what a destination holding members (destinations.base.Membership) must not remove."""

    def identifiers_to_send(self, rule: IdentifierRule) -> pa.Array:
        """The distinct identifiers of the rows to send (added, changed, retried) that are non-empty and valid by
        `rule`, spelled by it: what a destination that looks records up (destinations.base.ExistenceLookup) is
        asked about before check_rows."""

    def close(self) -> None:
        """Free what the plan holds (its engine's tables)."""
