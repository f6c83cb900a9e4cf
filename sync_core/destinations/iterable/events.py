"""Iterable custom events: `POST /api/events/trackBulk`, one outcome per row from its answer.

Each row is one event, under a deterministic id (`event_id`): sha256 of the sync's id and the row's key, so a
resend (after a crash, a retry, a full resync) updates the event it sent before, and a changed row updates its
event in place instead of adding one. A row removed from the model leaves the snapshot; its event stays.

Update-only mode writes events only for users who exist: the look-up of existing users (records.py) is the one
users syncs of the same credential share, and `updateOnly: true` makes Iterable report a user deleted since
as not found (`failedUpdates.notFound*`) instead of creating one.

Read back for reconciliation (RecordReadBack): the project's `customEvent` export, the sync's events kept and
keyed by their id (event_export.py), compared with the model's rows on their mapped and their own fields.

Rows are checked before any call: an event name (from its column) that is empty, a `created_at` that is null,
not a time, or in the future, and an event too large for one request are `data` rejections that cost nothing.

Events are built column-wise (base.ColumnEncoding, `part_sql`): each row's trackBulk entry, its id included, is
one DuckDB expression over the plan's columns, with the value rules of json_sql.py; `event` is the reference
and the fallback (tests/destinations/test_iterable_json_sql.py runs the same rows through both).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, time, timezone
from typing import BinaryIO, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from ...arrow_values import scalar
from ...config import DestinationConfig, SyncConfig
from ...event_settings import CREATED_AT_FIELD, EVENT_NAME_FIELD
from ...hashing import sql_string
from ...ratelimit import SharedRateLimits, vendor_limit
from ...rows import PART, PlannedRow, RowColumns
from ..base import WHITESPACE, Batch, IdentifierRule, ReadBackField, Rejection, SendResult, trimmed_sql
from ..json_sql import TIMESTAMPS
from . import MAX_EVENTS_PER_REQUEST
from .event_export import CREATED_FIELD, ID_FIELD, NAME_FIELD, EventLines, person_field
from .json_sql import fields_json_sql, identifier_json_sql
from ..base import NOT_FOUND_CODE
from .records import ENVELOPE_BYTES, MAX_BODY_BYTES, IterableRecords, dumps, iterable_value

# A created_at up to this far ahead of the destination's clock is taken as clock skew, not a future event.
FUTURE_TOLERANCE_SECONDS = 300
BEFORE_1970 = "BeforeUnixEpoch"  # the refusal part_sql names; recorded as InvalidCreatedAt, as `event` does
# created_at types part_sql dates in SQL exactly as `event` does in Python (not TIMESTAMP_NS: see part_sql)
CREATED_AT_TYPES = ("DATE", *(t for t in TIMESTAMPS if t != "TIMESTAMP_NS"))
FORGOTTEN = "The user was forgotten (privacy request); Iterable refuses their events"
# failedUpdates list -> (code, default class, message)
FAILURE_LISTS = {
    "invalidEmails": ("InvalidEmailAddressError", "data", "Invalid email address"),
    "invalidUserIds": ("InvalidUserIdError", "data", "Invalid userId"),
    "forgottenEmails": ("ForgottenUserError", "data", FORGOTTEN),
    "forgottenUserIds": ("ForgottenUserError", "data", FORGOTTEN),
    "notFoundEmails": (NOT_FOUND_CODE, "data", None),
    "notFoundUserIds": (NOT_FOUND_CODE, "data", None),
}


def event_id(sync_id: str, key: str) -> str:
    """The id of a row's event: the first 32 hex digits of sha256("<sync id>\\x00<primary key>"). The same sync
    and key give the same id on every run and machine; two syncs never share one."""
    return hashlib.sha256(f"{sync_id}\x00{key}".encode()).hexdigest()[:32]


class IterableEvents(IterableRecords):
    LIMITS = {"events/trackBulk": vendor_limit(10, 1.0), "export/data.json": vendor_limit(4, 60.0)}  # per project
    many_per_identifier = True  # a person has many events
    # Requests in flight unless the workspace sets `concurrency`: with 2, each request must come back within
    # 0.2 s to keep 10 a second; 4 keeps the limit on a busy machine. A wider duplicate window costs nothing
    # here: a resent event updates the one it sent before.
    DEFAULT_CONCURRENCY = 4

    def __init__(self, config: DestinationConfig, sync: SyncConfig, api_key: str, limits: SharedRateLimits):
        super().__init__(config, sync, api_key, limits)
        self.max_rows = min(config.batch_size or MAX_EVENTS_PER_REQUEST, MAX_EVENTS_PER_REQUEST)
        self.settings = sync.event
        self._null = {m.field: m.null for m in sync.mappings}
        self.key = self.settings.key  # "syncs.<id>": where the event settings are
        # Events without a created_at column are dated at the run's time: one time for every event of a run.
        self.run_time = int(limits.clock.now())

    # ---- before sending ----

    def refused_match_type(self, arrow_type: pa.DataType) -> str | None:
        if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
            label = self._rule.label
            return (f"is a number ({arrow_type}), and Iterable's {label} is text: a number would be sent as "
                    f"'{'123.0' if pa.types.is_floating(arrow_type) else '123'}'-style text and match no user "
                    f"reliably. Cast it in the model's SQL (TO_VARCHAR(<column>)) to the {label} as Iterable "
                    "holds it")
        return None

    def event(self, row: PlannedRow) -> dict | Rejection:
        """The row's event as trackBulk takes it, or why it cannot be sent."""
        name = self.settings.name
        if name is None:
            name = row.values.get(EVENT_NAME_FIELD)
            if name is None or not str(name).strip(WHITESPACE):
                return self._refused_before_sending(row, "MissingEventName")
            name = str(name)
        created = self._created_at(row)
        if isinstance(created, Rejection):
            return created
        fields = {}
        for field, value in row.values.items():
            if field in (EVENT_NAME_FIELD, CREATED_AT_FIELD) or (value is None and self._null[field] == "omit"):
                continue
            fields[field] = iterable_value(value)
        ident = str(row.match_value).strip(WHITESPACE)
        return {"userId" if self.by_user_id else "email": ident, "eventName": name,
                "id": event_id(self.sync.id, row.key), "createdAt": created, "dataFields": fields}

    def _created_at(self, row: PlannedRow) -> int | Rejection:
        """Unix seconds of the event: its created_at column, or the run's time when the sync names none."""
        if self.settings.created_at_column is None:
            return self.run_time
        value = row.values.get(CREATED_AT_FIELD)
        if value is None:
            return self._refused_before_sending(row, "MissingCreatedAt")
        moment = _as_utc(value)
        if moment is None:
            return self._refused_before_sending(row, "InvalidCreatedAt", value=value)
        seconds = int(moment.timestamp())
        if seconds > self.client.limits.clock.now() + FUTURE_TOLERANCE_SECONDS:
            return self._refused_before_sending(row, "FutureCreatedAt", moment)
        if seconds < 0:
            return self._refused_before_sending(row, BEFORE_1970, moment)
        return seconds

    def _refused_before_sending(self, row: PlannedRow, code: str, moment: datetime | None = None,
                                value=None) -> Rejection:
        """Why a row's event cannot be sent, decided by either path (`event`, or `part_sql`'s refusals)."""
        if code == "MissingEventName":
            return Rejection(row, code, f"Column '{self.settings.name_column}' (event_name_column of {self.key} in "
                             "workspace.toml) is empty for this row: there is no event name to track it under. "
                             "Give every row a name in the model (e.g. COALESCE)", "data")
        where = f"Column '{self.settings.created_at_column}' (created_at of {self.key} in workspace.toml)"
        if code == "MissingCreatedAt":
            return Rejection(row, code, f"{where} is null for this row: the event has no time. Give every row a "
                             "time in the model, or leave created_at out to date events at the run's time", "data")
        if code == "InvalidCreatedAt":
            return Rejection(row, code, f"{where} holds '{value}', which is not a timestamp: write it as an ISO time "
                             "(2026-01-31 12:00:00, or with +00:00) or cast the column to TIMESTAMP in the model",
                             "data", f"{where} holds '<value>', which is not a timestamp")
        if code == "FutureCreatedAt":
            return Rejection(row, code, f"{where} is {moment:%Y-%m-%d %H:%M:%S} UTC, in the future: an event is "
                             "tracked once it happened. Fix the time in the model (a time zone mistake?), or filter "
                             "out rows not yet due", "data", f"{where} is <time> UTC, in the future")
        return Rejection(row, "InvalidCreatedAt", f"{where} is {moment:%Y-%m-%d}, before 1970: Iterable dates "
                         "events in Unix seconds. Fix the time in the model", "data", f"{where} is <date>, before 1970")

    def _too_large(self, row: PlannedRow, size: int) -> Rejection:
        return Rejection(row, "EventTooLarge", f"The event is {size:,} bytes as JSON; one trackBulk request carries "
                         f"at most {MAX_BODY_BYTES:,} bytes. Send less with it: drop or shorten long mapped fields "
                         f"of {self.key} for such rows", "data",
                         "The event is <n> bytes as JSON; one trackBulk request carries at most 4 MB")

    # ---- column-wise (base.ColumnEncoding) ----

    def part_sql(self, match: tuple[str, str], columns: list[tuple[str, str, str]], key_sql: str) -> str | None:
        """`event` as one DuckDB expression: the same JSON, parsed, for every row it sends, and for a row it refuses
        a JSON array [code] or [code, UTC time] (`_column_refusal` words it as `event` does). Names from a column
        must be text and created_at a TIMESTAMP (with or without time zone, to the millisecond) or a DATE: text
        times (read by Python's ISO parser) and nanosecond timestamps (rounded by pandas) take the Python path."""
        by_field = {field: (column_sql, duckdb_type.upper()) for column_sql, duckdb_type, field in columns}
        ident = identifier_json_sql(*match)
        fields = fields_json_sql([c for c in columns if c[2] not in (EVENT_NAME_FIELD, CREATED_AT_FIELD)], self._null)
        if ident is None or fields is None:
            return None
        refusals = []  # (condition, part), in the order `event` checks them
        if self.settings.name is not None:
            name = sql_string(dumps(self.settings.name))
        else:
            column_sql, duckdb_type = by_field[EVENT_NAME_FIELD]
            if duckdb_type != "VARCHAR":
                return None
            name = f"to_json({column_sql})"
            refusals.append((f"{column_sql} IS NULL OR {trimmed_sql(column_sql)} = ''", '\'["MissingEventName"]\''))
        if self.settings.created_at_column is None:
            created = str(self.run_time)
        else:
            column_sql, duckdb_type = by_field[CREATED_AT_FIELD]
            if duckdb_type not in CREATED_AT_TYPES:
                return None
            moment = f"CAST({column_sql} AS TIMESTAMP)"  # UTC: the plan's session time zone
            created = f"(epoch_us({moment}) // 1000000)"  # toward zero, as int(moment.timestamp())
            at = f"'\"' || strftime({moment}, '%Y-%m-%d %H:%M:%S') || '\"]'"
            latest = self.client.limits.clock.now() + FUTURE_TOLERANCE_SECONDS
            refusals += [(f"{column_sql} IS NULL", '\'["MissingCreatedAt"]\''),
                         (f"{created} > {latest!r}", f"'[\"FutureCreatedAt\", ' || {at}"),
                         (f"{created} < 0", f"'[\"{BEFORE_1970}\", ' || {at}")]
        label = "userId" if self.by_user_id else "email"
        event = (f"""'{{"{label}": ' || {ident} || ', "eventName": ' || {name} || ', "id": "' || """
                 f"""{self.record_id_sql(key_sql)} || '", "createdAt": ' || CAST({created} AS VARCHAR) || """
                 f"""', "dataFields": ' || {fields} || '}}'""")
        if not refusals:
            return event
        return f"CASE {' '.join(f'WHEN {c} THEN {p}' for c, p in refusals)} ELSE {event} END"

    def _column_batches(self, rows: RowColumns) -> list[Batch]:
        """`batches` for rows whose parts part_sql made: the events that fit, cut by bytes; the others refused."""
        parts = rows.batch.column(PART)
        if parts.null_count:  # never made by part_sql: a row must not fall out of both masks unnoticed
            first = rows[pc.index(pc.is_null(parts), True).as_py()]
            raise ValueError(f"{self.key}: the planned event of key {first.key!r} has no request part")
        sendable = pc.and_(pc.starts_with(parts, "{"),
                           pc.less_equal(pc.binary_length(parts), scalar(MAX_BODY_BYTES - ENVELOPE_BYTES)))
        if pc.all(sendable).as_py():
            return self.pack(rows, rows.parts, rows.part_bytes())
        sent, refused = RowColumns(rows.batch.filter(sendable)), RowColumns(rows.batch.filter(pc.invert(sendable)))
        out = self.pack(sent, sent.parts, sent.part_bytes()) if len(sent) else []
        rejections = [self._column_refusal(row, part) for row, part in zip(refused, refused.parts)]
        return out + [Batch([r.row for r in rejections], rejections)]

    def _column_refusal(self, row: PlannedRow, part: str) -> Rejection:
        if part.startswith("{"):
            return self._too_large(row, len(part.encode()))
        code, *at = json.loads(part)
        moment = datetime.fromisoformat(at[0]).replace(tzinfo=timezone.utc) if at else None
        return self._refused_before_sending(row, code, moment)

    # ---- reading back (reconciliation) ----

    @property
    def normalisation_note(self) -> str:
        among = (f"the export's events named '{self.settings.name}'" if self.settings.name else
                 "every custom event of the project (names come from a column: other syncs' events count as "
                 "unknown to the model)")
        return (f"events are matched by id (sha256 of the sync's id and the row's key) among {among}, and a resent "
                "event replaces the one of its id whole, so a null the sync omits must be absent there too; an "
                "event's own fields start with @: @eventName compares as text, @createdAt as a UTC instant to the "
                "second, and its person as Iterable compares identifiers")

    def record_rule(self) -> IdentifierRule:
        """Events are keyed by their id (event_id: hex digits, compared as written)."""
        return IdentifierRule(ID_FIELD, case_insensitive=False, valid_pattern=None)

    def record_id_sql(self, key_sql: str) -> str:
        """event_id in DuckDB: the first 32 hex digits of sha256(<sync id> NUL <key>)."""
        return f"substr(sha256({sql_string(self.sync.id)} || chr(0) || {key_sql}), 1, 32)"

    def read_back_fields(self) -> list[ReadBackField]:
        """The mapped fields, then the event's own: its name, its time (when a column gives it; else it is the
        run's, which no model row holds) and its person. The same id replaces the event whole (the sandbox does;
        Iterable says "updates"), so a null the sync omits must be absent: every field compares as `clear`."""
        s = self.settings
        out = [ReadBackField(m.field, m.column, "clear") for m in self.sync.mappings]
        out.append(ReadBackField(NAME_FIELD, s.name_column, fixed=s.name))
        if s.created_at_column:
            out.append(ReadBackField(CREATED_FIELD, s.created_at_column, instant=True))
        out.append(ReadBackField(person_field(self._rule.label), self.sync.match_column, identifier=True))
        return out

    def read_back(self, fields: list[str], sink: BinaryIO) -> None:
        """The sync's events, as one streaming `customEvent` export of the project (all time: an event's
        createdAt comes from the model and may be old) in a slot of the export's limit shared with the runs'
        look-ups. Iterable's export cannot filter by name: events of other names are left out here (all of them
        are kept when names come from a column), and the records are matched by id in the comparison."""
        lines = EventLines(sink, destination=self.name, event_name=self.settings.name, fields=fields,
                           person=self._rule)
        self.client.stream_to("/api/export/data.json", [("dataTypeName", "customEvent"), ("range", "All")], lines)
        lines.finish()

    def batches(self, rows: Sequence[PlannedRow]) -> list[Batch]:
        """Requests of ≤ max_rows events and ≤ 4 MB; rows refused before sending come in a batch of their own,
        whose parts are their Rejections (send answers it without a call)."""
        if isinstance(rows, RowColumns):
            return self._column_batches(rows)
        sendable, parts, refused = [], [], []
        for row in rows:
            event = self.event(row)
            if isinstance(event, Rejection):
                refused.append(event)
                continue
            part = dumps(event)
            if len(part) > MAX_BODY_BYTES - ENVELOPE_BYTES:
                refused.append(self._too_large(row, len(part)))
            else:
                sendable.append(row)
                parts.append(part)
        out = self.pack(sendable, parts)
        if refused:
            out.append(Batch([r.row for r in refused], refused))
        return out

    # ---- requests ----

    def send(self, batch: Batch) -> SendResult:
        if batch.parts and isinstance(batch.parts[0], Rejection):
            return SendResult(rejected=list(batch.parts))
        answer = self.client.post_json("/api/events/trackBulk", self.body(batch))
        return self._outcomes(batch, answer)

    def body(self, batch: Batch) -> bytes:
        """The request body, UTF-8 (parts made in SQL keep non-ASCII text as it is; `dumps` escapes it)."""
        return ('{"events": [' + ", ".join(batch.parts) + "]" + (', "updateOnly": true' if self.update_only else "")
                + "}").encode()

    def _outcomes(self, batch: Batch, answer: dict) -> SendResult:
        rows = batch.rows
        failed = self.failed_updates(answer, "trackBulk")
        result = SendResult()
        accepted = self.refuse_listed(rows, failed, FAILURE_LISTS, result)
        disallowed = {str(n) for n in answer.get("disallowedEventNames") or []}
        if disallowed:
            # Each event's name as sent (RowColumns carry no values): read from its part, on this rare path only.
            names = {row.key: json.loads(part)["eventName"] for row, part in zip(rows, batch.parts)}
            kept = []
            for row in accepted:
                name = names[row.key]
                if name in disallowed:
                    result.rejected.append(self._disallowed(row, name))
                else:
                    kept.append(row)
            accepted = kept
        self.confirm(accepted, answer, result)
        dropped = [str(f) for f in answer.get("filteredOutFields") or []]
        if dropped:
            result.notes.append(f"Iterable dropped field{'s' if len(dropped) > 1 else ''} {', '.join(dropped)} from "
                                f"the events of {self.key}: the project filters {'them' if len(dropped) > 1 else 'it'}"
                                " out. The events are stored without them; allow the fields in the project's data "
                                "field settings, or remove their mappings")
        if self.settings.created_at_column is None and result.synced:
            result.notes.append(f"{self.key} names no created_at column: its events are dated at the run's time "
                                f"({datetime.fromtimestamp(self.run_time, timezone.utc):%Y-%m-%d %H:%M:%S} UTC).")
        return result

    def _disallowed(self, row: PlannedRow, name: str) -> Rejection:
        setting = ("event_name" if self.settings.name else "event_name_column")
        return Rejection(row, "DisallowedEventName",
                         f"Iterable's project does not allow the event name '{name}': allow it in the project's "
                         "settings (Project Settings, event names: the list of blocked or allowed custom event "
                         f"names), or change {setting} of {self.key} in workspace.toml", "config",
                         "Iterable's project does not allow the event name '<value>'")


def _as_utc(value) -> datetime | None:
    """A created_at value as an aware UTC time, or None when it is not one: naive times are UTC (the warehouse's
    time zone is UTC), a date is its midnight, text is read as ISO 8601."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip(WHITESPACE))
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    if isinstance(value, date):
        return datetime.combine(value, time(0), timezone.utc)
    return None
