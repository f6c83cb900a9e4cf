"""Iterable users: `POST /api/users/bulkUpdate`, one outcome per row from `failedUpdates`.

Update-only mode never creates a user. Checking a not-found row must not cost a write, so the run first
learns which users exist (one streaming export of identifiers, `onlyFields`) and writes only for those.
It also sends `updateOnly: true`, so a user deleted between that export and the write (the race this
approach leaves) is reported not-found by Iterable rather than re-created.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc

from ...config import DestinationConfig, SyncConfig
from ...rows import PlannedRow
from ...ratelimit import SharedRateLimits, credential_digest, vendor_limit
from ..base import (WHITESPACE, Batch, IdentifierRule, Rejection, SendResult, TransientError, unsendable_json_sql,
                    unsupported_json_type)
from . import MAX_USERS_PER_REQUEST
from .client import IterableClient


MAX_BODY_BYTES = 4 * 1024 * 1024
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
NOT_FOUND_CODE = "NotFound"
UNSENDABLE = ("Iterable cannot store NaN, infinity, or a date outside years 1-9999. Fix the value in the model "
              "(e.g. NULLIF, or a CASE that maps it to a value or to NULL)")

# failedUpdates list -> (code, default class, message). Classes: data = fix the source row.
FAILURE_LISTS = {
    "invalidEmails": ("InvalidEmailAddressError", "data", "Invalid email address"),
    "invalidUserIds": ("InvalidUserIdError", "data", "Invalid userId"),
    "invalidDataEmails": ("RequestFieldsTypesMismatched", "data",
                          "A field's type does not match the type Iterable already has for it"),
    "invalidDataUserIds": ("RequestFieldsTypesMismatched", "data",
                           "A field's type does not match the type Iterable already has for it"),
    "forgottenEmails": ("ForgottenUserError", "data", "The user was forgotten (privacy request); Iterable refuses updates"),
    "forgottenUserIds": ("ForgottenUserError", "data", "The user was forgotten (privacy request); Iterable refuses updates"),
    "conflictEmails": ("ConflictError", "data", "The email and userId belong to different users"),
    "conflictUserIds": ("ConflictError", "data", "The email and userId belong to different users"),
    "notFoundEmails": (NOT_FOUND_CODE, "data", None),
    "notFoundUserIds": (NOT_FOUND_CODE, "data", None),
}


class IterableUsers:
    LIMITS = {"users/bulkUpdate": vendor_limit(5, 1.0), "export/data.json": vendor_limit(4, 60.0)}  # per project

    def __init__(self, config: DestinationConfig, sync: SyncConfig, api_key: str, limits: SharedRateLimits):
        self.name = config.name
        self.sync = sync
        self.by_user_id = sync.match_field == "userId"
        self.update_only = sync.mode == "update"
        self.client = IterableClient(destination=config.name, base_url=config.base_url, api_key=api_key,
                                     key_reference=f"destinations.{config.name}.api_key ({config.api_key.describe()})",
                                     timeout=config.timeout_seconds, limits=limits)
        self.max_rows = min(config.batch_size or MAX_USERS_PER_REQUEST, MAX_USERS_PER_REQUEST)
        self._null = {m.field: m.null for m in sync.mappings}
        self._rule = self.identifier_rule()
        label = self.identifier_rule().label
        self.lookup_scope = f"{credential_digest(config.base_url, api_key)}:{label}" if self.update_only else None

    # ---- before sending ----

    def identifier_rule(self) -> IdentifierRule:
        if self.by_user_id:
            return IdentifierRule("userId", case_insensitive=False, valid_pattern=None)
        return IdentifierRule("email", case_insensitive=True, valid_pattern=EMAIL_PATTERN)  # Iterable's emails

    def normalize(self, match_value) -> str:
        """The identifier as existing() spells it."""
        return self._rule.python(match_value)

    def _ident(self, row: PlannedRow) -> str:
        return self.normalize(row.match_value)

    def existing(self, updated_since: float | None) -> pa.Array:
        """One streaming export of identifiers (`onlyFields`): of every user, or of users whose profile changed
        since `updated_since` (new users among them)."""
        label = self.identifier_rule().label
        if updated_since is None:
            window = [("range", "All")]
        else:
            window = [("startDateTime", _iterable_export_time(updated_since)),  # both in the destination's time
                      ("endDateTime", _iterable_export_time(self.client.limits.clock.now() + 86_400))]
        values = self.client.get_column("/api/export/data.json",
                                        [("dataTypeName", "user"), *window, ("onlyFields", label)], label)
        values = self._rule.arrow(values.drop_null())
        return pc.unique(values.filter(pc.not_equal(values, "")))

    def read_back(self, fields: list[str], sink: BinaryIO) -> None:
        """Every user's identifier and `fields`, as one streaming export (`onlyFields`; dataFields come
        flattened into each line), in a slot of the export's limit shared with the runs' look-ups."""
        label = self.identifier_rule().label
        only = [("onlyFields", name) for name in dict.fromkeys([label, *fields])]
        self.client.stream_to("/api/export/data.json", [("dataTypeName", "user"), ("range", "All"), *only], sink)

    def refusal(self, kind: str, row: PlannedRow) -> Rejection:
        label = self.identifier_rule().label
        if kind == "not_found":
            return Rejection(row, NOT_FOUND_CODE, f"No record was found with lookup for {label}:{row.match_value}",
                             "data", f"No record was found with lookup for {label}:<{label}>", record_missing=True)
        if kind == "unsendable":
            [(field, value)] = row.values.items()
            return Rejection(row, "UnsendableValue", f"Field '{field}' holds {value}: {UNSENDABLE}", "data",
                             f"Field '<field>' holds <value>: {UNSENDABLE}")
        if kind == "invalid":
            return Rejection(row, "InvalidEmailAddressError", f"Invalid email address: '{row.match_value}'", "data",
                             "Invalid email address: '<value>'")
        message = f"The match column '{self.sync.match_column}' is empty: no {label} to look the user up by"
        return Rejection(row, "MissingIdentifier", message, "data", message)

    def unsendable_sql(self, column_sql: str, duckdb_type: str) -> str | None:
        return unsendable_json_sql(column_sql, duckdb_type)

    def unsupported_type(self, arrow_type: pa.DataType) -> str | None:
        return unsupported_json_type(arrow_type)

    # ---- requests ----

    def user(self, row: PlannedRow) -> dict:
        fields = {}
        for name, value in row.values.items():
            if value is None and self._null[name] == "omit":
                continue
            fields[name] = iterable_value(value)
        # The identifier as it was checked and looked up: trimmed (a padded email is invalid to Iterable).
        ident = str(row.match_value).strip(WHITESPACE)
        if self.by_user_id:
            return {"userId": ident, "preferUserId": True, "dataFields": fields}
        return {"email": ident, "dataFields": fields}

    def batches(self, rows: list[PlannedRow]) -> list[Batch]:
        """≤ 1000 users and ≤ 4 MB per request (with room for the envelope)."""
        out, current, parts, size = [], [], [], 0
        for row in rows:
            part = json.dumps(self.user(row), default=str)
            # Each part costs its length and the ", " before it; 1 KB is left for the envelope.
            if current and (len(current) >= self.max_rows or size + len(part) + 2 > MAX_BODY_BYTES - 1024):
                out.append(Batch(current, parts))
                current, parts, size = [], [], 0
            current.append(row)
            parts.append(part)
            size += len(part) + 2
        if current:
            out.append(Batch(current, parts))
        return out

    def send(self, batch: Batch) -> SendResult:
        answer = self.client.post_json("/api/users/bulkUpdate", self.body(batch))
        return self._outcomes(batch.rows, answer)

    def body(self, batch: Batch) -> bytes:
        """The request body: the parts are ASCII JSON (json.dumps escapes the rest), so characters are bytes."""
        return ('{"users": [' + ", ".join(batch.parts) + "]" + (', "updateOnly": true' if self.update_only else "")
                + "}").encode()

    def _outcomes(self, rows: list[PlannedRow], answer: dict) -> SendResult:
        failed = answer.get("failedUpdates") or {}
        if not isinstance(failed, dict):
            raise TransientError("MalformedResponse", "bulkUpdate answered without a failedUpdates object")
        success = answer.get("successCount")
        if not isinstance(success, int):  # then nothing says which rows were stored
            raise TransientError("MalformedResponse", "bulkUpdate answered without a successCount")
        by_ident: dict[str, list[PlannedRow]] = {}  # two keys can name one user (Bob@x.io and bob@x.io)
        for r in rows:
            by_ident.setdefault(self._ident(r), []).append(r)
        result = SendResult()
        refused: set[str] = set()
        for list_name, (code, default_class, message) in FAILURE_LISTS.items():
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
                        label = "userId" if self.by_user_id else "email"
                        result.rejected.append(Rejection(row, code, f"{message} ({label}:{row.match_value})",
                                                         default_class))
        accepted = [r for r in rows if self._ident(r) not in refused]
        if success != len(accepted):
            # The lists do not explain the counts: we cannot tell which rows were stored, so none is called
            # synced; they are retried next run (at-least-once, never a false "synced").
            for row in accepted:
                result.rejected.append(Rejection(row, "UnexplainedFailure",
                                                 f"Iterable reported {success} successes for {len(accepted)} "
                                                 "rows it did not list as failed", "transient"))
            return result
        result.synced = accepted
        return result


def _iterable_export_time(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


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
