"""What every destination object offers the executor, and how it reports a request's fate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa

from ..rows import PlannedRow


class TransientError(Exception):
    """The request may work if sent again later: rate limit, 5xx, timeout, dropped connection, garbled reply."""

    def __init__(self, code: str, message: str, retry_after: float | None = None):
        self.code, self.message, self.retry_after = code, message, retry_after
        self.attempts = 0  # how many times the request went out: set by the executor when it gives up
        super().__init__(f"{code}: {message}")


class BatchRejected(Exception):
    """The destination refused the request as a whole (e.g. HTTP 400): one row in it may be the cause."""

    def __init__(self, code: str, message: str):
        self.code, self.message = code, message
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True)
class Rejection:
    row: PlannedRow
    code: str
    message: str
    default_class: str  # before the sync's expected-error rules: data | config | transient
    template: str | None = None  # the message with its values replaced, when the destination knows its shape


@dataclass(frozen=True)
class IdentifierRule:
    """How a destination spells and checks the identifier it looks records up by, as SQL, so that a plan can
    refuse empty, malformed and (update-only) unknown identifiers set-wise, without a call."""
    label: str  # "email", "userId": for messages
    normalize_sql: str  # a DuckDB expression over {value}: the identifier as existing() spells it
    valid_pattern: str | None  # a regular expression the normalized identifier must match in full


REFUSALS = ("missing", "invalid", "not_found")  # what IdentifierRule checks can refuse a row for


@dataclass(frozen=True)
class Batch:
    """The rows of one request, each row's part of the body serialized once (sizing and sending share it)."""
    rows: list[PlannedRow]
    parts: list[str]

    def halves(self) -> tuple["Batch", "Batch"]:
        middle = len(self.rows) // 2
        return (Batch(self.rows[:middle], self.parts[:middle]), Batch(self.rows[middle:], self.parts[middle:]))


@dataclass
class SendResult:
    synced: list[PlannedRow] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


class DestinationObject(Protocol):
    name: str  # the destination's id in workspace.toml, for messages

    def identifier_rule(self) -> IdentifierRule:
        """The identifier checks that need no call."""

    lookup_scope: str | None  # for modes that only write to existing records: whose identifiers; else None

    def existing(self, updated_since: float | None) -> pa.Array:
        """Identifiers of the records that exist (all of them, or those updated since an epoch time)."""

    def normalize(self, match_value) -> str:
        """A match value as existing() spells identifiers."""

    def refusal(self, kind: str, row: PlannedRow) -> Rejection:
        """The rejection of a row refused by an identifier check (`kind` is one of REFUSALS)."""

    def batches(self, rows: list[PlannedRow]) -> list[Batch]:
        """Split rows into requests within the destination's count and size limits."""

    def send(self, batch: Batch) -> SendResult:
        """One request. Raises TransientError, BatchRejected or errors.DestinationError (fatal: stop the run)."""
