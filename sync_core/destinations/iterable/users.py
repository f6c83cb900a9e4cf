"""Iterable users: `POST /api/users/bulkUpdate`, one outcome per row from `failedUpdates`.

Update-only mode never creates a user: the run looks up who exists first (records.py) and writes only for them.
It also sends `updateOnly: true`, so a user deleted between that export and the write (the race this
approach leaves) is reported not-found by Iterable rather than re-created.
"""

from __future__ import annotations

from typing import BinaryIO

from ...config import DestinationConfig, SyncConfig
from ...ratelimit import SharedRateLimits, vendor_limit
from ...rows import PlannedRow
from ..base import WHITESPACE, Batch, SendResult
from . import MAX_USERS_PER_REQUEST
from .json_sql import fields_json_sql, identifier_json_sql
from ..base import NOT_FOUND_CODE
from .records import IterableRecords, dumps, iterable_value

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


class IterableUsers(IterableRecords):
    LIMITS = {"users/bulkUpdate": vendor_limit(5, 1.0), "export/data.json": vendor_limit(4, 60.0)}  # per project

    def __init__(self, config: DestinationConfig, sync: SyncConfig, api_key: str, limits: SharedRateLimits):
        super().__init__(config, sync, api_key, limits)
        self.max_rows = min(config.batch_size or MAX_USERS_PER_REQUEST, MAX_USERS_PER_REQUEST)
        self._null = {m.field: m.null for m in sync.mappings}

    def read_back(self, fields: list[str], sink: BinaryIO) -> None:
        """Every user's identifier and `fields`, as one streaming export (`onlyFields`; dataFields come
        flattened into each line), in a slot of the export's limit shared with the runs' look-ups."""
        label = self._rule.label
        only = [("onlyFields", name) for name in dict.fromkeys([label, *fields])]
        self.client.stream_to("/api/export/data.json", [("dataTypeName", "user"), ("range", "All"), *only], sink)

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

    def entry(self, row: PlannedRow) -> str:
        return dumps(self.user(row))

    def part_sql(self, match: tuple[str, str], columns: list[tuple[str, str, str]], key_sql: str) -> str | None:
        """`user` as one DuckDB expression (base.ColumnEncoding): the same JSON, parsed, for every row."""
        ident, fields = identifier_json_sql(*match), fields_json_sql(columns, self._null)
        if ident is None or fields is None:
            return None
        if self.by_user_id:
            return f"""'{{"userId": ' || {ident} || ', "preferUserId": true, "dataFields": ' || {fields} || '}}'"""
        return f"""'{{"email": ' || {ident} || ', "dataFields": ' || {fields} || '}}'"""

    def send(self, batch: Batch) -> SendResult:
        answer = self.client.post_json("/api/users/bulkUpdate", self.body(batch))
        return self._outcomes(batch.rows, answer)

    def body(self, batch: Batch) -> bytes:
        """The request body, UTF-8 (parts encoded in SQL keep non-ASCII text as it is; `dumps` escapes it)."""
        return ('{"users": [' + ", ".join(batch.parts) + "]" + (', "updateOnly": true' if self.update_only else "")
                + "}").encode()

    def _outcomes(self, rows: list[PlannedRow], answer: dict) -> SendResult:
        failed = self.failed_updates(answer, "bulkUpdate")
        result = SendResult()
        accepted = self.refuse_listed(rows, failed, FAILURE_LISTS, result)
        self.confirm(accepted, answer, result)
        return result
