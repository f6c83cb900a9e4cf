"""What every destination object offers the executor, and how it reports a request's fate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ..planner import PlannedRow


class TransientError(Exception):
    """The request may work if sent again later: rate limit, 5xx, timeout, dropped connection, garbled reply."""

    def __init__(self, code: str, message: str, retry_after: float | None = None):
        self.code, self.message, self.retry_after = code, message, retry_after
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


@dataclass
class SendResult:
    synced: list[PlannedRow] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


class DestinationObject(Protocol):
    name: str  # the destination's id in workspace.toml, for messages

    def validate(self, row: PlannedRow) -> Rejection | None:
        """A local check that needs no call (e.g. an invalid email): refuse the row before sending it."""

    def existing(self) -> set[str] | None:
        """For modes that only write to records that exist: the identifiers that exist now (None: no check)."""

    def not_found(self, row: PlannedRow) -> Rejection:
        """The rejection of a row whose record does not exist in an update-only sync."""

    def identifier(self, row: PlannedRow) -> str:
        """The row's identifier as `existing()` spells it."""

    def batches(self, rows: list[PlannedRow]) -> list[list[PlannedRow]]:
        """Split rows into requests within the destination's count and size limits."""

    def send(self, rows: list[PlannedRow]) -> SendResult:
        """One request. Raises TransientError, BatchRejected or errors.DestinationError (fatal: stop the run)."""
