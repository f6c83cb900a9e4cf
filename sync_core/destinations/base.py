"""What every destination object offers the executor, and how it reports a request's fate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, Protocol, Sequence, runtime_checkable

import pyarrow as pa
import pyarrow.compute as pc

from ..hashing import sql_string
from ..rows import PlannedRow, joined

if TYPE_CHECKING:
    from ..config import SyncConfig


class TransientError(Exception):
    """The request may work if sent again later: rate limit, 5xx, timeout, dropped connection, garbled reply."""

    def __init__(self, code: str, message: str, retry_after: float | None = None):
        self.code, self.message, self.retry_after = code, message, retry_after
        self.attempts = 0  # how many times the request went out: set by the executor when it gives up
        self.gave_up = False  # the executor stopped retrying it (attempts spent, or a wait too long), not a stop
        super().__init__(f"{code}: {message}")


class ReadStopped(Exception):
    """A read back (reconciliation) stopped for good part way: a paged read that retried each page itself and
    gave up, or a limit that ends it (a daily quota). The lines it wrote are whole; the read is partial, and it is
    not tried again from the start (that would spend the same calls again). The message says why."""


class BatchRejected(Exception):
    """The destination refused the request as a whole (e.g. HTTP 400): one row in it may be the cause."""

    def __init__(self, code: str, message: str):
        self.code, self.message = code, message
        super().__init__(f"{code}: {message}")


# The code of a row whose identifier names no record in the destination, whichever destination: the MQR report
# reads it to tell records that exist nowhere from other rejections.
NOT_FOUND_CODE = "NotFound"


@dataclass(frozen=True)
class Rejection:
    row: PlannedRow
    code: str
    message: str
    default_class: str  # before the sync's expected-error rules: data | config | transient
    template: str | None = None  # the message with its values replaced, when the destination knows its shape
    record_missing: bool = False  # the destination holds no record for the row (not found): it leaves the snapshot


# What "trimmed" means for keys and identifiers, in SQL and in Python alike (str.strip() without arguments
# also strips Unicode spaces, which DuckDB's trim does not: the two must agree, or a key checked in SQL is sent
# otherwise by Python).
WHITESPACE = " \t\n\r\x0b\x0c"


def trimmed_sql(value_sql: str) -> str:
    """A DuckDB expression: the value as text, without leading and trailing WHITESPACE."""
    return f"trim(CAST({value_sql} AS VARCHAR), {sql_string(WHITESPACE)})"


@dataclass(frozen=True)
class IdentifierRule:
    """How a destination spells and compares the identifier it looks records up by: the one definition, written
    for the three engines that apply it. The plan (DuckDB SQL) refuses empty, malformed and unknown identifiers
    set-wise and finds rows naming one record under two keys; exports of who exists (Arrow) and answers
    (Python) are read with the same rule, so a key checked one way is never matched another."""
    label: str  # "email", "userId": for messages
    case_insensitive: bool  # compared without letter case (Iterable emails); always trimmed of WHITESPACE
    valid_pattern: str | None  # a regular expression the normalized identifier must match in full

    @property
    def compared(self) -> str:
        return "trimmed, without letter case" if self.case_insensitive else "trimmed, letter case kept"

    def sql(self, value_sql: str) -> str:
        """A DuckDB expression: the identifier as the destination compares it."""
        return self.fold_sql(trimmed_sql(value_sql))

    def fold_sql(self, trimmed_sql_value: str) -> str:
        """The same, for a value already trimmed (a key): trimming again costs 0.1 s per million rows."""
        if not self.case_insensitive:
            return trimmed_sql_value
        folded = f"lower({trimmed_sql_value})"
        for lowered, same in LOWER_VARIANTS:
            folded = f"replace({folded}, {sql_string(lowered)}, {sql_string(same)})"
        return folded

    def python(self, value) -> str:
        value = "" if value is None else str(value).strip(WHITESPACE)
        if not self.case_insensitive:
            return value
        value = value.lower()
        for lowered, same in LOWER_VARIANTS:
            value = value.replace(lowered, same)
        return value

    def arrow(self, values: pa.Array) -> pa.Array:
        trimmed = pc.utf8_trim(values, WHITESPACE)
        if not self.case_insensitive:
            return trimmed
        folded = pc.utf8_lower(trimmed)
        for lowered, same in LOWER_VARIANTS:
            folded = pc.replace_substring(folded, lowered, same)
        return folded


# Letter case is folded alike in DuckDB, Arrow and Python, which lower-case alike but for two letters: Python (and
# the JVM, and the sandbox) lower a word-final Σ to ς and İ to i + U+0307, where DuckDB and Arrow give σ and i.
# Folding those results to one spelling makes the three agree, and compares as equal every pair any of them
# would: two keys that might be one user are refused together (never both "synced"), and an identifier is never
# missed in an export for its spelling.
LOWER_VARIANTS = (("\u03c2", "\u03c3"), ("i\u0307", "i"))


REFUSALS = ("missing", "invalid", "not_found", "unsendable")  # what the plan's checks can refuse a row for


def unsendable_json_sql(column_sql: str, duckdb_type: str) -> str | None:
    """For a JSON API: a DuckDB expression over a column that is true where its value cannot be sent as JSON the
    destination stores (NaN and infinities; dates outside years 1-9999, which also have no Python form), or None
    when no value of the type can be refused. Such a row is a `data` rejection naming the field, never a value
    sent as null (which would clear the destination's)."""
    t = duckdb_type.upper()
    if t in ("DOUBLE", "FLOAT", "REAL"):
        return f"(isnan({column_sql}) OR isinf({column_sql}))"
    if t == "DATE" or t.startswith("TIMESTAMP"):
        day = f"CAST({column_sql} AS DATE)"
        return f"(NOT isfinite({column_sql}) OR {day} < DATE '0001-01-01' OR {day} > DATE '9999-12-31')"
    return None


def unsupported_json_type(arrow_type: pa.DataType) -> str | None:
    """The name of a column type no JSON destination can take as it is (it would be sent as something else:
    a MAP as a list of pairs, a BLOB as Python's bytes text, an INTERVAL as a list of numbers), else None."""
    if pa.types.is_map(arrow_type):
        return "MAP"
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type) or \
            pa.types.is_fixed_size_binary(arrow_type):
        return "BLOB"
    if arrow_type == pa.month_day_nano_interval() or pa.types.is_duration(arrow_type):
        return "INTERVAL"
    return None


class JsonValues:
    """For a JSON API whose records are looked up by an identifier: the plan's checks of values
    (unsendable_json_sql, unsupported_json_type) and the rejections of rows its checks refuse (`refusal`), worded
    for the vendor named by VENDOR and the kind of record named by RECORD ("user", "lead"). A subclass is a
    DestinationObject (its identifier_rule() names the identifier) and says how its not-found rows are refused."""
    VENDOR: str
    RECORD: str
    sync: "SyncConfig"

    def not_found_refusal(self, row: PlannedRow) -> Rejection:
        """The rejection of a row whose identifier names no record (record_missing)."""
        raise NotImplementedError

    def refusal(self, kind: str, row: PlannedRow) -> Rejection:
        if kind == "not_found":
            return self.not_found_refusal(row)
        if kind == "unsendable":
            return self.unsendable_refusal(row)
        if kind == "invalid":
            return invalid_email_refusal(row)
        message = (f"The match column '{self.sync.match_column}' is empty: no {self.identifier_rule().label} to look "
                   f"the {self.RECORD} up by")
        return Rejection(row, "MissingIdentifier", message, "data", message)

    def unsendable_sql(self, column_sql: str, duckdb_type: str) -> str | None:
        return unsendable_json_sql(column_sql, duckdb_type)

    def unsupported_type(self, arrow_type: pa.DataType) -> str | None:
        return unsupported_json_type(arrow_type)

    def unsendable_refusal(self, row: PlannedRow) -> Rejection:
        """row.values holds the one field refused and its value's text."""
        why = (f"{self.VENDOR} cannot store NaN, infinity, or a date outside years 1-9999. Fix the value in the "
               "model (e.g. NULLIF, or a CASE that maps it to a value or to NULL)")
        [(field, value)] = row.values.items()
        return Rejection(row, "UnsendableValue", f"Field '{field}' holds {value}: {why}", "data",
                         f"Field '<field>' holds <value>: {why}")


def invalid_email_refusal(row: PlannedRow) -> Rejection:
    return Rejection(row, "InvalidEmailAddressError", f"Invalid email address: '{row.match_value}'", "data",
                     "Invalid email address: '<value>'")


@dataclass(frozen=True)
class Batch:
    """The rows of one request, each row's part of the body serialized once (sizing and sending share it).
    `rows` is a list of PlannedRow or, on the column-wise path, RowColumns."""
    rows: Sequence[PlannedRow]
    parts: Sequence[str]

    def halves(self) -> tuple["Batch", "Batch"]:
        middle = len(self.rows) // 2
        return (Batch(self.rows[:middle], self.parts[:middle]), Batch(self.rows[middle:], self.parts[middle:]))


@dataclass
class SendResult:
    synced: Sequence[PlannedRow] = field(default_factory=list)  # a list, or RowColumns when confirmed whole
    rejected: list[Rejection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # for the run's notes: what the answer says beyond rows
    destination_ids: dict[str, str] = field(default_factory=dict)  # key -> the record's id there (marketoGUID)

    def __add__(self, other: "SendResult") -> "SendResult":
        return SendResult(joined(self.synced, other.synced), self.rejected + other.rejected,
                          self.notes + [n for n in other.notes if n not in self.notes],
                          {**self.destination_ids, **other.destination_ids})


class DestinationObject(Protocol):
    """The core contract of one API object. Abilities beyond it are capabilities (below), checked where used."""
    name: str  # the destination's id in workspace.toml, for messages

    def identifier_rule(self) -> IdentifierRule:
        """How the destination spells and compares the identifier records are matched by."""

    def unsendable_sql(self, column_sql: str, duckdb_type: str) -> str | None:
        """True where a column's value cannot be sent (see unsendable_json_sql), or None."""

    def unsupported_type(self, arrow_type: pa.DataType) -> str | None:
        """The name of a column type the destination cannot take at all (see unsupported_json_type), or None."""

    def refusal(self, kind: str, row: PlannedRow) -> Rejection:
        """The rejection of a row refused by a check of the plan (`kind` is one of REFUSALS; for `unsendable`,
        row.values holds the one field refused and its value's text)."""

    def batches(self, rows: Sequence[PlannedRow]) -> list[Batch]:
        """Split rows into requests within the destination's count and size limits (RowColumns from a
        ColumnEncoding destination's plan carry their parts)."""

    def send(self, batch: Batch) -> SendResult:
        """One request. Raises TransientError, BatchRejected or errors.DestinationError (fatal: stop the run)."""


@runtime_checkable
class ColumnEncoding(Protocol):
    """Capability: the destination encodes each row's request part column-wise, as one DuckDB expression over the
    plan's columns, so the rows to send leave the plan as RowColumns with their parts already encoded and no
    Python runs per row (the hot path of a large sync). Without it, or when `part_sql` returns None for a sync's
    column types, the plan hands over PlannedRow objects with their values and `batches` encodes them in Python
    (the fallback a new destination can start with)."""

    def part_sql(self, match: tuple[str, str], columns: list[tuple[str, str, str]], key_sql: str) -> str | None:
        """A DuckDB expression: a row's part as JSON text (UTF-8), from `match` (column SQL, DuckDB type),
        `columns` (column SQL, DuckDB type, field) of sync.sent_columns, in that order, and `key_sql` (the row's
        primary key as text: PlannedRow.key); None when a type is one it does not encode in SQL (then every row
        takes the Python path, so one sync's parts never mix paths)."""


@runtime_checkable
class ManyPerIdentifier(Protocol):
    """Capability: several rows may name one person's identifier, each its own record (a person's events), so
    rows sharing an identifier are not refused as naming one record."""
    many_per_identifier: bool


@runtime_checkable
class MatchTypeCheck(Protocol):
    """Capability: refuse a match column whose type the destination's identifier cannot be."""

    def refused_match_type(self, arrow_type: pa.DataType) -> str | None:
        """Why a match column of this type cannot identify a record (with the fix), else None."""


@runtime_checkable
class CallBudget(Protocol):
    """Capability: a destination whose calls a day are counted (Marketo's daily quota) says, before a run sends,
    whether what is left covers the rows to send; it then sends what the budget allows and stops the run there."""

    def before_sending(self, rows: int) -> str | None:
        """A note for the run when the budget left does not cover `rows`, else None."""


@runtime_checkable
class TargetCheck(Protocol):
    """Capability: before the model is queried, check that what the sync writes into exists and takes writes (an
    Iterable list, named by id or resolved by name), raising errors.DestinationError naming the setting."""

    def check_target(self) -> str:
        """What was found, in words (for doctor). One look-up at most; raises TransientError when the
        destination cannot answer now."""


@runtime_checkable
class Membership(Protocol):
    """Capability: the destination holds a set whose members are the model's rows (an Iterable list). A row that
    leaves the model is removed from the set: the run hands each removed key to `batches` as a row of operation
    `removed` (and each member whose row is invalid now as one of operation `withdrawn`), and it leaves the snapshot
    only once its removal is confirmed. Each member's identifier as written is kept in the snapshot
    (`SendResult.destination_ids`), so a removal names exactly what was added."""

    def track_members(self, members: dict[str, str], current: pa.Array) -> None:
        """Before sending: each snapshot key's identifier as written, and the identifiers the model names now
        (plan.Plan.identifiers), which are never removed whichever key named them before."""


@runtime_checkable
class ExistenceExport(Protocol):
    """Capability: list the identifiers of the records that exist (Iterable: one streaming export), so that a
    run that only writes to existing records (update-only) learns who exists first and writes only for them."""
    lookup_scope: str | None  # whose identifiers (credential and identifier kind) when the sync's mode needs them
    known_scope: str  # the scope of the identifiers this sync writes, whatever its mode
    lookup_scopes: dict[str, str]  # identifier kind -> scope: every scope one export answers for
    lookup_max_age: float  # seconds one export serves the credential's update-only syncs (lookup.py)

    def existing(self, updated_since: float | None) -> dict[str, pa.Array]:
        """Identifiers of the records that exist (all of them, or those updated since an epoch time), per scope
        of `lookup_scopes`."""

    def normalize(self, match_value) -> str:
        """A match value as existing() spells identifiers."""


@runtime_checkable
class ExistenceLookup(Protocol):
    """Capability: a destination that writes only for records that exist and cannot list them all, but looks
    identifiers up a few hundred a call (Marketo: leads by email, 300 a call). A run asks it about the identifiers
    of the rows to send before sending (lookup.look_up_planned): rows naming no record are refused as not found
    with no call, and each request carries only rows it can write."""

    def existing_among(self, identifiers: pa.Array) -> pa.Array:
        """Those of `identifiers` (spelled by identifier_rule()) that name at least one record."""


@runtime_checkable
class ReadBack(Protocol):
    """Capability: read back what the destination holds of the records a sync writes, for reconciliation
    (reconcile/). Each destination object plugs in its own read: Iterable users stream one export."""
    name: str

    def identifier_rule(self) -> IdentifierRule:
        """How the lines' identifier (under identifier_rule().label) is compared with the model's."""

    def read_back(self, fields: list[str], sink: BinaryIO) -> None:
        """Write the destination's records as JSON lines to `sink`: each line an object with the identifier
        and `fields` at its top level (a field the record lacks is absent). A stream that breaks raises
        TransientError, leaving what arrived in `sink` (the whole read is tried again); a read that retries its
        own parts raises ReadStopped when it gives up."""


@runtime_checkable
class ReadBackByRecordId(Protocol):
    """Capability of a ReadBack whose records are many per person, each its own (Marketo activities: a changed row
    or a resend adds another): its lines carry `_record`, the id the destination gave the record (the snapshot's
    destination_id), and `_owner`, the person it belongs to, besides the fields. Records are matched to rows by
    the snapshot's ids, and the read covers only what the sync can have written: since its first run."""

    def prepare_read(self, since: float, records: int) -> None:
        """Before read_back: read what was written since `since` (epoch seconds); the snapshot names `records`
        records (a lower bound of the read's cost). Raises errors.DestinationUnavailable, saying so, when the
        destination's limits (a daily quota) would not allow the read."""

    def read_note(self) -> str | None:
        """After read_back, whole or not: what the read covered and what it cost, for the report's notes."""


@dataclass(frozen=True)
class ReadBackField:
    """A field a reconciliation compares: a mapped field, or one of the record's own (an event's name, time and
    person), under its name in the read-back lines and the report."""
    field: str
    column: str | None  # the model column its value comes from; None: `fixed`, a value of the sync's settings
    null: str = "omit"  # as Mapping.null: "omit" (a null is not sent, so not compared) or "clear"
    fixed: str | None = None
    identifier: bool = False  # the record's person: compared as the destination compares identifiers
    instant: bool = False  # a time (a TIMESTAMP, a DATE or ISO text): compared as a UTC instant


@runtime_checkable
class RecordReadBack(Protocol):
    """Capability beside ReadBack, for objects with many records per person (a person's events): a line is
    keyed by the record's own id, which the sync derives from the row's key (Iterable events; where the destination
    gives the id instead, see ReadBackByRecordId), and it carries fields of the record itself beside the mapped
    ones, compared too. Without it, lines are keyed by the person's identifier and only
    mapped fields are compared."""
    normalisation_note: str  # what comparing these records adds to the stated normalisation

    def record_rule(self) -> IdentifierRule:
        """How the lines' record id (under record_rule().label) is spelled and compared."""

    def record_id_sql(self, key_sql: str) -> str:
        """A DuckDB expression: the id of the record the sync writes for a model row's key."""

    def read_back_fields(self) -> list[ReadBackField]:
        """Every field a reconciliation can compare, the mapped ones first."""
