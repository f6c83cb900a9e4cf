"""Marketo custom activities: `POST /rest/v1/activities/external.json`, one outcome per row from `result[]`.

Nobody is created by this sync: the emails of the rows to send are looked up first (leads.py; the run asks
`existing_among` before sending, so each add carries up to 300 activities of people who have a lead), and an
activity is added only for an email naming exactly one lead. An email with no lead is a not-found rejection
(expected by the sync's rules), costing no write; the run after the product creates the lead sends it. A batch
whose emails were not looked up before (that look-up failed) looks them up itself. Marketo's activity type is looked
up by its API name before the first add (it must exist, be approved and have every mapped attribute), else the run
stops as `config` before anything is added.

Activities are built column-wise (base.ColumnEncoding, `part_sql`; json_sql.py): each row's activity is one DuckDB
expression over the plan's columns, without its lead and type, which send() puts in front of it once the look-up and
the type are known. `activity` is the reference and the fallback, for types SQL does not encode
(tests/destinations/test_marketo_json_sql.py runs the same rows through both).

Activities have no idempotency key. The executor commits each batch's outcome as it arrives and keeps at most
`concurrency` requests unsettled, so a run killed mid-way can have added at most that many batches' activities
without recording them: the next run adds those again (the duplicate window; `concurrency = 1` makes it one batch).
"""

from __future__ import annotations

import json
import math
import threading
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, BinaryIO, Sequence

import pyarrow as pa

from ...arrow_values import strings
from ...config import DestinationConfig, SyncConfig
from ...errors import DestinationError
from ...marketo_day import reset_time_text
from ...ratelimit import Limit, SharedRateLimits
from ...rows import PlannedRow, RowColumns, column_of, joined, taken
from ..base import NOT_FOUND_CODE, WHITESPACE, Batch, IdentifierRule, JsonValues, Rejection, SendResult, TransientError
from . import ACTIVITY_DATE, MAX_ACTIVITIES_PER_REQUEST, PRIMARY_ATTRIBUTE
from .client import MarketoClient, credential_reference
from .json_sql import activity_json_sql
from .leads import LeadDirectory
from .read_back import ReadCount, ReadPlan, plan_read, read_activities
from .shared_cache import MarketoSharedCache

MAX_BODY_BYTES = 1024 * 1024  # HTTP 413 past this
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
MULTIPLE_LEADS_CODE = "1007"
CONFIG_RECORD_CODES = ("1006", "1013")  # a field or type Marketo does not know: the setup, not the row


class MarketoActivities(JsonValues):
    VENDOR, RECORD = "Marketo", "lead"
    # Per instance, over every REST endpoint (look-ups, types and adds alike); the reserve is the config's.
    LIMITS = {"rest": Limit(100, 20.0)}
    LIMITS_PER_INSTANCE = True  # opening.py shares them by base_url, whichever credential calls
    # One add in flight: a crash can then duplicate at most one batch (activities have no idempotency key), and the
    # instance's 100 calls / 20 s, not the round trip, bounds the rate (90.5% of it at 1, as at 2: benchmarks.md).
    DEFAULT_CONCURRENCY = 1

    def __init__(self, config: DestinationConfig, sync: SyncConfig, credentials: tuple[str, str],
                 limits: SharedRateLimits):
        self.name, self.sync = config.name, sync
        client_id, client_secret = credentials
        # the workspace's state folder, where the shared limits live, also holds the token and leads its runs share
        shared = MarketoSharedCache(limits.path.parent, config.base_url, client_id)
        self.client = MarketoClient(destination=config.name, base_url=config.base_url, client_id=client_id,
                                    client_secret=client_secret, key_reference=credential_reference(config),
                                    timeout=config.timeout_seconds, limits=limits, shared=shared)
        self.max_rows = min(config.batch_size or MAX_ACTIVITIES_PER_REQUEST, MAX_ACTIVITIES_PER_REQUEST)
        self._null = {m.field: m.null for m in sync.mappings}
        self._rule = self.identifier_rule()
        self.leads = LeadDirectory(self.client, self._rule, shared)
        self._type_id: int | None = None
        self.attribute_api_names: dict[str, str] = {}  # the type's attributes: display name -> API name
        self.settings = config.settings
        self.retries = (config.max_attempts, config.max_retry_after_seconds)  # for a read back's pages
        self._read_plan: ReadPlan | None = None
        self._read_count: ReadCount | None = None
        self._type_lock = threading.Lock()

    # ---- before sending ----

    def identifier_rule(self) -> IdentifierRule:
        return self.rule_for(self.sync)

    @staticmethod
    def rule_for(sync: SyncConfig) -> IdentifierRule:
        """Known before any secret is resolved (`sync-core model check`): Marketo looks leads up by email."""
        return IdentifierRule("email", case_insensitive=True, valid_pattern=EMAIL_PATTERN)

    def not_found_refusal(self, row: PlannedRow) -> Rejection:
        return Rejection(row, NOT_FOUND_CODE, f"No Marketo lead has the email {row.match_value}", "data",
                         "No Marketo lead has the email <email>", record_missing=True)

    def existing_among(self, identifiers: pa.Array) -> pa.Array:
        """The emails (as compared) naming at least one lead: from this run's look-ups, the shared cache, or new
        look-ups of 300 a call (leads.py), which send() then finds known. An email of two leads is among them:
        send() refuses its row (1007)."""
        emails = identifiers.to_pylist()
        leads = self.leads.leads_of(emails)
        return strings([email for email in emails if leads[self._rule.python(email)]])

    # ---- requests ----

    def activity(self, row: PlannedRow) -> dict:
        """The row's activity, without its lead and type (known once looked up): the reference, and the fallback
        for the types part_sql does not encode."""
        activity: dict[str, Any] = {}
        attributes = []
        for name, value in row.values.items():
            if value is None and self._null[name] == "omit":
                continue
            if name == ACTIVITY_DATE:
                activity["activityDate"] = marketo_date(value)
            elif name == PRIMARY_ATTRIBUTE:
                activity["primaryAttributeValue"] = marketo_value(value)
            else:
                attributes.append({"apiName": name, "value": marketo_value(value)})
        activity["attributes"] = attributes
        return activity

    def part_sql(self, match: tuple[str, str], columns: list[tuple[str, str, str]], key_sql: str) -> str | None:
        """`activity` as one DuckDB expression (base.ColumnEncoding; json_sql.py): the same JSON, parsed, for every
        row. The lead and the type are not in it: send() puts them in front once they are known."""
        return activity_json_sql(columns, self._null)

    def batches(self, rows: Sequence[PlannedRow]) -> list[Batch]:
        """≤ 300 activities and ≤ 1 MB per request (with room for the envelope and the ids added at send).
        RowColumns come with their parts encoded (part_sql); other rows are encoded here, a row at a time."""
        if isinstance(rows, RowColumns):
            return self._pack(rows, rows.parts, rows.part_bytes())
        parts = [json.dumps(self.activity(row), default=str) for row in rows]
        return self._pack(rows, parts, [len(part) for part in parts])  # ASCII JSON: characters are bytes

    def _pack(self, rows: Sequence[PlannedRow], parts: Sequence[str], sizes: list[int]) -> list[Batch]:
        out, start, size = [], 0, 0
        for i, part_size in enumerate(sizes):
            if i > start and (i - start >= self.max_rows or size + part_size + 64 > MAX_BODY_BYTES - 1024):
                out.append(Batch(rows[start:i], parts[start:i]))
                start, size = i, 0
            size += part_size + 64  # ", " and '"leadId": …, "activityTypeId": …, '
        if start < len(sizes):
            out.append(Batch(rows[start:], parts[start:]))
        return out

    def send(self, batch: Batch) -> SendResult:
        type_id = self.activity_type_id()
        emails = column_of(batch.rows, "match_value")
        leads = self.leads.leads_of(emails)
        result = SendResult()
        sending, activities = [], []  # the rows sent (their places in the batch), and their activities
        for i, (email, part) in enumerate(zip(emails, batch.parts)):
            ids = leads[self._rule.python(email)]
            if len(ids) == 1:
                sending.append(i)
                activities.append(f'{{"leadId": {ids[0]}, "activityTypeId": {type_id}, {part[1:]}')
            elif not ids:
                result.rejected.append(self.refusal("not_found", batch.rows[i]))
            else:
                result.rejected.append(Rejection(
                    batch.rows[i], MULTIPLE_LEADS_CODE, f"{len(ids)} Marketo leads have the email {email} (ids "
                    f"{', '.join(map(str, ids))}): merge them in Marketo, or the activity goes to no one", "data",
                    "<n> Marketo leads have the email <email>: merge them in Marketo, or the activity goes to no one"))
        if sending:
            body = ('{"input": [' + ", ".join(activities) + "]}").encode()
            answer = self.client.call("POST", "/rest/v1/activities/external.json", data=body)
            self._outcomes(taken(batch.rows, sending), answer, result)
        return result

    def _outcomes(self, rows: Sequence[PlannedRow], answer: dict, result: SendResult) -> None:
        """One outcome per activity sent; the rows added stay columns when they came as RowColumns."""
        results = answer.get("result")
        if not isinstance(results, list) or len(results) != len(rows):
            # Nothing says which rows were stored: none is called synced (the next run may duplicate them).
            raise TransientError("MalformedResponse", f"Marketo answered {len(rows)} activities with "
                                 f"{len(results) if isinstance(results, list) else 'no'} results")
        gone, added = [], []
        for i, (key, outcome) in enumerate(zip(column_of(rows, "key"), results)):
            status = outcome.get("status") if isinstance(outcome, dict) else None
            if status == "added" and outcome.get("marketoGUID") is not None:
                added.append(i)
                result.destination_ids[key] = str(outcome["marketoGUID"])
                continue
            row = rows[i]
            error = ((outcome.get("errors") or [{}])[0] if isinstance(outcome, dict) else {}) or {}
            code, message = str(error.get("code", "")), str(error.get("message", ""))
            if code == "1004":  # deleted since the look-up
                result.rejected.append(self.refusal("not_found", row))
                gone.append(row.match_value)
            elif status == "skipped" and code:
                kind = "config" if code in CONFIG_RECORD_CODES else "data"
                result.rejected.append(Rejection(row, code, f"Marketo skipped the activity: {message} "
                                                 f"(email:{row.match_value})", kind))
            else:
                result.rejected.append(Rejection(row, "UnexplainedFailure", f"Marketo answered {status!r} "
                                                 "without an error code", "transient"))
        result.synced = joined(result.synced, taken(rows, added))
        if gone:
            self.leads.forget(gone)

    def before_sending(self, rows: int) -> str | None:
        """Checks the activity type, then reads today's usage: the run may make the daily quota, less the reserve,
        less what the instance used today. A note when that does not cover the rows to send (each batch: a look-up
        and an add); the client then stops the run when the budget is spent."""
        self.activity_type_id()
        quota, reserve = self.settings["daily_quota"], self.settings["daily_quota_reserve"]
        used = self.client.calls_today()
        left = max(0, math.floor(quota * (1 - reserve)) - used)
        self.client.budget = left
        needed = 2 * math.ceil(rows / self.max_rows)
        if needed <= left:
            return None
        return (f"Marketo's daily quota leaves this run {left:,} calls ({quota:,} a day, {reserve:.0%} kept for other "
                f"integrations, {used:,} used today); its {rows:,} rows need about {needed:,}: it sends what the quota "
                f"allows, and the rest waits for the reset at {reset_time_text(self.client.limits.clock.now())}.")

    def activity_type_id(self) -> int:
        """The id of the sync's activity type, checked once before the first add: it exists, is approved, and has
        every attribute the sync maps; else the run stops as `config`."""
        with self._type_lock:
            if self._type_id is None:
                types = self.client.call("GET", "/rest/v1/activities/external/types.json").get("result") or []
                self._type_id = checked_activity_type(self.name, self.sync, types)
                found = next(t for t in types if isinstance(t, dict) and t.get("id") == self._type_id)
                self.attribute_api_names = {a["name"]: a["apiName"] for a in found.get("attributes") or []
                                            if isinstance(a, dict) and a.get("name") and a.get("apiName")}
            return self._type_id

    # ---- reading back (reconciliation; read_back.py) ----

    def prepare_read(self, since: float, records: int) -> None:
        """Read the activities added since `since`; refused (DestinationUnavailable) when the daily quota, less
        what the sync's next run needs, does not cover reading the `records` the snapshot names."""
        self._read_plan = plan_read(self, since, records)

    def read_back(self, fields: list[str], sink: BinaryIO) -> None:
        """The sync's activities as JSON lines (`_record`: marketoGUID, `_owner`: leadId, then `fields`), paged;
        since the epoch unless prepare_read said otherwise."""
        if self._read_plan is None:
            self.prepare_read(0.0, 0)
        self._read_count = ReadCount()
        read_activities(self, self._read_plan, fields, sink, self._read_count)

    def read_note(self) -> str | None:
        if self._read_plan is None or self._read_count is None:
            return None
        return self._read_count.note(self._read_plan, self.sync.options["activity_type"])


def checked_activity_type(destination: str, sync: SyncConfig, types: list[dict]) -> int:
    """The id of the sync's activity type among Marketo's `types`: it exists, is approved, and has every attribute
    the sync maps; else a DestinationError naming what is wrong (the run stops as `config`; doctor fails)."""
    where, name = f"syncs.{sync.id}.activity_type", sync.options["activity_type"]
    by_name = {t.get("apiName"): t for t in types if isinstance(t, dict)}
    found = by_name.get(name)
    if found is None:
        raise DestinationError(destination, "UnknownActivityType", f"Marketo has no custom activity type with "
                               f"the API name '{name}' (it has: "
                               f"{', '.join(sorted(map(str, by_name))) or 'none'})",
                               f"Correct {where} in workspace.toml, or create the type in Marketo (Admin > "
                               "Marketo Custom Activities) and approve it")
    if found.get("status") != "approved":
        raise DestinationError(destination, "ActivityTypeNotApproved", f"Marketo's activity type "
                               f"'{name}' ({where}) is {found.get('status')!r}, not approved",
                               "Approve it in Marketo (Admin > Marketo Custom Activities), then run again")
    known = {a.get("apiName") for a in found.get("attributes") or [] if isinstance(a, dict)}
    mapped = [m.field for m in sync.mappings if m.field not in (ACTIVITY_DATE, PRIMARY_ATTRIBUTE)]
    unknown = [field for field in mapped if field not in known]
    if unknown:
        raise DestinationError(destination, "UnknownActivityAttribute", f"activity type "
                               f"'{name}' has no attribute {', '.join(unknown)} (it has: "
                               f"{', '.join(sorted(map(str, known))) or 'none'})",
                               f"Correct syncs.{sync.id}.mappings in workspace.toml, or add the attribute "
                               "to the type in Marketo")
    return found["id"]


def marketo_date(value: Any) -> Any:
    """A date-time as Marketo takes it (ISO 8601 with an offset; a time without a zone is UTC); text as given,
    for Marketo to judge (a wrong format comes back as its record code 1001)."""
    if isinstance(value, datetime):  # four-digit years, as ISO 8601 (strftime writes year 99 as `99`)
        value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
        return f"{value.year:04d}-" + value.strftime("%m-%dT%H:%M:%S") + "Z"
    if isinstance(value, date):
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}T00:00:00Z"
    return value.strip(WHITESPACE) if isinstance(value, str) else value


def marketo_value(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return marketo_date(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value
