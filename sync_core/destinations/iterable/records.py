"""What Iterable's users and events share: how a row names a person (email or userId) and is looked up among
the users that exist (update-only), the refusals made before sending, and cutting rows into requests of at
most a count of records and 4 MB.

Update-only never creates a user. Checking a not-found row must not cost a write, so the run first learns which
users exist (one streaming export of identifiers, `onlyFields`) and writes only for those. One export answers
for both identifiers, email and userId (`lookup_scopes`), so it serves every update-only sync of the credential,
users and events alike, for `lookup_max_age` seconds (lookup.py).
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from ...arrow_values import scalar
from ...config import DestinationConfig, SyncConfig
from ...ratelimit import SharedRateLimits, credential_digest
from ...rows import PlannedRow, RowColumns, joined
from ..base import NOT_FOUND_CODE, Batch, IdentifierRule, JsonValues, Rejection, SendResult, TransientError
from . import ITERABLE
from .client import IterableClient

MAX_BODY_BYTES = 4 * 1024 * 1024
ENVELOPE_BYTES = 1024  # left in each request for what wraps the records
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
IDENTIFIER_RULES = {"email": IdentifierRule("email", case_insensitive=True, valid_pattern=EMAIL_PATTERN),
                    "userId": IdentifierRule("userId", case_insensitive=False, valid_pattern=None)}


class IterableRecords(JsonValues):
    """The part of a users or events object that does not depend on which: subclasses give `max_rows`,
    `entry(row)` (the JSON text of one row's record) and `send`."""
    VENDOR, RECORD = "Iterable", "user"
    max_rows: int

    def __init__(self, config: DestinationConfig, sync: SyncConfig, api_key: str, limits: SharedRateLimits):
        self.name = config.name
        self.sync = sync
        self.by_user_id = sync.match_field == "userId"
        self.update_only = sync.mode == "update"
        self.client = IterableClient(destination=config.name, base_url=config.base_url, api_key=api_key,
                                     key_reference=f"destinations.{config.name}.api_key ({config.api_key.describe()})",
                                     timeout=config.timeout_seconds, limits=limits)
        self._rule = self.identifier_rule()
        # Where the identifiers of each kind this credential reaches are kept (state/known_identifiers.py).
        credential = credential_digest(config.base_url, api_key)
        self.lookup_scopes = {rule.label: f"{credential}:{rule.label}" for rule in IDENTIFIER_RULES.values()}
        self.known_scope = self.lookup_scopes[self._rule.label]  # this sync's: the users it writes are there
        self.lookup_scope = self.known_scope if self.update_only else None
        self.lookup_max_age = config.settings.get("lookup_max_age_seconds", ITERABLE.settings["lookup_max_age_seconds"])

    # ---- before sending ----

    def identifier_rule(self) -> IdentifierRule:
        return self.rule_for(self.sync)

    @staticmethod
    def rule_for(sync: SyncConfig) -> IdentifierRule:
        """The rule for a sync's records, known before any secret is resolved (`sync-core model check`)."""
        return IDENTIFIER_RULES[sync.match_field]

    def normalize(self, match_value) -> str:
        """The identifier as existing() spells it."""
        return self._rule.python(match_value)

    def _ident(self, row: PlannedRow) -> str:
        return self.normalize(row.match_value)

    def existing(self, updated_since: float | None) -> dict[str, pa.Array]:
        """One streaming export of both identifiers (`onlyFields` email and userId): of every user, or of users
        whose profile changed since `updated_since` (new users among them); per look-up scope."""
        if updated_since is None:
            window = [("range", "All")]
        else:
            window = [("startDateTime", iterable_export_time(updated_since)),  # both in the destination's time
                      ("endDateTime", iterable_export_time(self.client.limits.clock.now() + 86_400))]
        labels = list(self.lookup_scopes)

        def identifiers(label: str, values: pa.Array) -> pa.Array:  # of a block of the export, as it is read
            values = IDENTIFIER_RULES[label].arrow(values.drop_null())
            return values.filter(pc.not_equal(values, scalar("")))

        columns = self.client.get_columns("/api/export/data.json", [("dataTypeName", "user"), *window,
                                                                    *(("onlyFields", label) for label in labels)],
                                          labels, identifiers)
        return {self.lookup_scopes[label]: pc.unique(values) for label, values in columns.items()}

    def not_found_refusal(self, row: PlannedRow) -> Rejection:
        label = self._rule.label
        return Rejection(row, NOT_FOUND_CODE, f"No record was found with lookup for {label}:{row.match_value}",
                         "data", f"No record was found with lookup for {label}:<{label}>", record_missing=True)

    # ---- requests ----

    def entry(self, row: PlannedRow) -> str:
        """The JSON text of one row's record in a request."""
        raise NotImplementedError

    def batches(self, rows: Sequence[PlannedRow]) -> list[Batch]:
        """≤ max_rows records and ≤ 4 MB per request (with room for the envelope). RowColumns come with their
        parts encoded (ColumnEncoding); other rows are encoded here, a row at a time."""
        if isinstance(rows, RowColumns):
            return self.pack(rows, rows.parts, rows.part_bytes())
        return self.pack(rows, [self.entry(row) for row in rows])

    def pack(self, rows: Sequence[PlannedRow], parts: Sequence[str], sizes: list[int] | None = None) -> list[Batch]:
        """Rows and their parts cut into requests of ≤ max_rows records and ≤ 4 MB. `sizes`: each part's size
        in bytes, when not its length (ASCII JSON from `dumps`: characters are bytes)."""
        sizes = sizes if sizes is not None else [len(part) for part in parts]
        out, start, size = [], 0, 0
        for i, part_size in enumerate(sizes):
            # Each part costs its size and the ", " before it.
            if i > start and (i - start >= self.max_rows or size + part_size + 2 > MAX_BODY_BYTES - ENVELOPE_BYTES):
                out.append(Batch(rows[start:i], parts[start:i]))
                start, size = i, 0
            size += part_size + 2
        if start < len(sizes):
            out.append(Batch(rows[start:], parts[start:]))
        return out

    # ---- answers ----

    @staticmethod
    def failed_updates(answer: dict, endpoint: str) -> dict:
        failed = answer.get("failedUpdates") or {}
        if not isinstance(failed, dict):
            raise TransientError("MalformedResponse", f"{endpoint} answered without a failedUpdates object")
        return failed

    def refuse_listed(self, rows: Sequence[PlannedRow], failed: dict, lists: dict,
                      result: SendResult) -> Sequence[PlannedRow]:
        """Reject the rows whose identifier a list of `failedUpdates` names (`lists`: list name -> (code, class,
        message)); returns the other rows. Every row of a listed person is refused: the lists name people, not
        records (two keys can name one user, Bob@x.io and bob@x.io; a person can have several events). With no
        list naming anyone (the usual answer), `rows` come back as they are (RowColumns stay columns)."""
        if not any(failed.get(name) for name in lists if name.endswith("UserIds") == self.by_user_id):
            return rows
        by_ident: dict[str, list[PlannedRow]] = {}
        for r in rows:
            by_ident.setdefault(self._ident(r), []).append(r)
        refused: set[str] = set()
        label = self._rule.label
        for list_name, (code, default_class, message) in lists.items():
            if list_name.endswith("UserIds") != self.by_user_id:
                continue
            for ident in failed.get(list_name) or []:
                ident = self.normalize(ident)
                if ident not in by_ident or ident in refused:
                    continue
                refused.add(ident)
                for row in by_ident[ident]:
                    if code == NOT_FOUND_CODE:
                        result.rejected.append(self.refusal("not_found", row))
                    else:
                        result.rejected.append(Rejection(row, code, f"{message} ({label}:{row.match_value})",
                                                         default_class))
        return [r for r in rows if self._ident(r) not in refused]

    @staticmethod
    def confirm(accepted: Sequence[PlannedRow], answer: dict, result: SendResult) -> None:
        """The rows no list refused are synced if `successCount` accounts for each of them."""
        success = answer.get("successCount")
        if not isinstance(success, int):  # then nothing says which rows were stored
            raise TransientError("MalformedResponse", "the answer has no successCount")
        if success != len(accepted):
            # The lists do not explain the counts: we cannot tell which rows were stored, so none is called
            # synced; they are retried next run (at-least-once, never a false "synced").
            for row in accepted:
                result.rejected.append(Rejection(row, "UnexplainedFailure",
                                                 f"Iterable reported {success} successes for {len(accepted)} "
                                                 "rows it did not list as failed", "transient"))
            return
        result.synced = joined(result.synced, accepted)


def iterable_export_time(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def dumps(record: dict) -> str:
    """A record as ASCII JSON (json.dumps escapes the rest), so that its characters are its bytes."""
    return json.dumps(record, default=str)


def iterable_value(value: Any) -> Any:
    """A warehouse value as Iterable wants it: dates as `yyyy-MM-dd HH:mm:ss +00:00`, numbers as JSON numbers.
    Years are written with four digits (strftime writes year 1 as `1`). NaN and infinities never get here: the
    plan refuses their rows (unsendable_json_sql)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return (f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
                f"{value.hour:02d}:{value.minute:02d}:{value.second:02d} +00:00")
    if isinstance(value, date):
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value
