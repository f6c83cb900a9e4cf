"""Iterable lists (segments): the model's rows are the members of one static list. A row that enters the model is
subscribed (`POST /api/lists/subscribe`), a row that leaves it is unsubscribed (`POST /api/lists/unsubscribe`),
one outcome per row from `failedUpdates`.

The list is named by `list_id`, or by `list_name` resolved through `GET /api/lists`, and checked before the model
is queried (`check_target`): a list that does not exist, a name two lists share, or a list that takes no
subscribers (Dynamic, Suppression, Internal) is a config error naming the setting.

Membership is kept in the snapshot: each member's identifier as subscribed is its `destination_id`, so a row that
leaves the model is unsubscribed under the identifier it was subscribed with, and a member whose identifier
changed (a new email for the same key) is unsubscribed under the old one once subscribed under the new. A member
whose row is invalid now (a duplicated key) is unsubscribed too, so the list holds the model's valid rows only;
an identifier a valid row still names (under another key) is never unsubscribed.

Update-only mode subscribes only users who exist: the look-up of existing users is the one users and events syncs
of the same credential share (records.py), and `updateExistingUsersOnly: true` makes Iterable skip a user deleted
since (Iterable honours it in userId-based and hybrid projects; an email-based project creates that user: the
race docs/architecture.md describes). Mapped fields, if any, are written to the member's profile as they are
subscribed. Subscribers are built column-wise (`part_sql`, as users are); leaving rows come as RowColumns of keys
(rows.leaving_rows), each given the identifier it was subscribed with from the snapshot's, no object per row.
"""

from __future__ import annotations

import json
import tempfile
from typing import BinaryIO, Sequence

import pyarrow as pa

from ...arrow_values import strings
from ...config import DestinationConfig, SyncConfig
from ...errors import DestinationError
from ...ratelimit import SharedRateLimits, vendor_limit
from ...rows import PART, PlannedRow, RowColumns, column_of, leaving_rows, taken
from ..base import WHITESPACE, Batch, Rejection, SendResult, TransientError
from ..http import json_object
from . import MAX_SUBSCRIBERS_PER_REQUEST
from .json_sql import fields_json_sql, identifier_json_sql
from .records import IterableRecords, dumps, iterable_value
from .users import FAILURE_LISTS

LEAVING = ("removed", "withdrawn")  # rows whose member is unsubscribed: gone from the model, or invalid now
MEMBER = "member"  # the column of leaving rows naming the identifier each key was subscribed with (None: unknown)
LISTS_SHOWN = 10  # lists named in an error about the one a sync names


class IterableLists(IterableRecords):
    # Iterable publishes no limit for subscribe and unsubscribe: 5/s per project is our assumption (bulkUpdate's).
    LIMITS = {"lists/subscribe": vendor_limit(5, 1.0), "lists/unsubscribe": vendor_limit(5, 1.0),
              "lists": vendor_limit(100, 1.0), "lists/getUsers": vendor_limit(5, 60.0),
              "export/data.json": vendor_limit(4, 60.0)}

    def __init__(self, config: DestinationConfig, sync: SyncConfig, api_key: str, limits: SharedRateLimits):
        super().__init__(config, sync, api_key, limits)
        self.max_rows = min(config.batch_size or MAX_SUBSCRIBERS_PER_REQUEST, MAX_SUBSCRIBERS_PER_REQUEST)
        self._null = {m.field: m.null for m in sync.mappings}
        self.key = f"syncs.{sync.id}"
        self.list_id: int | None = None  # known once check_target has found the list
        self.list_label = ""  # "list 12 'Customers'", for messages
        self._members: dict[str, str] = {}  # snapshot key -> identifier as subscribed (track_members)
        self._current: set[str] = set()  # identifiers the model names now: never unsubscribed

    # ---- the list ----

    def check_target(self) -> str:
        """Find the list the sync names (by id, or by name) among the project's lists; it must take subscribers."""
        answer = json_object(self.client.request("GET", "/api/lists"))
        lists = answer.get("lists")
        if not isinstance(lists, list) or not all(isinstance(entry, dict) for entry in lists):
            raise TransientError("MalformedResponse", "GET /api/lists answered without a list of lists")
        wanted_id, wanted_name = self.sync.options.get("list_id"), self.sync.options.get("list_name")
        if wanted_id is not None:
            if not wanted_id.strip(WHITESPACE).isdigit():
                raise DestinationError(self.name, "InvalidListId", f"list_id of {self.key} is '{wanted_id}', not a "
                                       "list id", "Give the list's number (in Iterable: Audience > Lists, the id "
                                       "in the list's address), or name the list with list_name")
            found = [entry for entry in lists if str(entry.get("id")) == wanted_id.strip(WHITESPACE)]
            setting = f"list_id = {wanted_id}"
        else:
            found = [entry for entry in lists if entry.get("name") == wanted_name]
            setting = f"list_name = '{wanted_name}'"
        if not found:
            raise DestinationError(self.name, "UnknownList", f"{setting} of {self.key} names no list of the project "
                                   f"this API key belongs to ({self._described(lists)})",
                                   f"Fix {setting.split(' ')[0]} of {self.key} in workspace.toml; a list of another "
                                   "project needs that project's API key")
        if len(found) > 1:
            raise DestinationError(self.name, "AmbiguousListName", f"{setting} of {self.key} names "
                                   f"{len(found)} lists ({self._described(found, 'they are')})",
                                   f"Name the list by its id instead: list_id = <id> in {self.key}")
        [entry] = found
        self.list_id, self.list_label = int(entry["id"]), f"list {entry['id']} '{entry.get('name')}'"
        if entry.get("listType", "Standard") != "Standard":
            raise DestinationError(self.name, "ListNotWritable", f"{self.list_label} ({setting} of {self.key}) is a "
                                   f"{entry.get('listType')} list: Iterable fills it itself and takes no "
                                   "subscribers", "Sync to a static list: create one in Iterable (Audience > "
                                   f"Lists, a static list) and name it in {self.key}")
        return f"{self.list_label} ({setting}) is a static list: it takes subscribers"

    @staticmethod
    def _described(lists: list[dict], what: str = "its lists:") -> str:
        if not lists:
            return "it has none"
        shown = ", ".join(f"{entry.get('id')} '{entry.get('name')}'" for entry in lists[:LISTS_SHOWN])
        more = f" and {len(lists) - LISTS_SHOWN} more" if len(lists) > LISTS_SHOWN else ""
        return f"{what} {shown}{more}"

    # ---- reading back (reconciliation) ----

    def read_back(self, fields: list[str], sink: BinaryIO) -> None:
        """The list's members (`GET /api/lists/getUsers`: one a line, 5 reads a minute per project), each as a
        JSON line of its identifier; with `fields`, with the member's profile values from one export of users
        (`onlyFields`, as the users' read-back), the other users' lines left out."""
        if self.list_id is None:
            self.check_target()
        label = self._rule.label
        with tempfile.TemporaryFile() as listed:
            self.client.stream_to("/api/lists/getUsers", [("listId", str(self.list_id)),
                                                          ("preferUserId", "true" if self.by_user_id else "false")],
                                  listed)
            listed.seek(0)
            members = {line.decode().strip(WHITESPACE) for line in listed} - {""}
        if not fields:
            for member in sorted(members):
                sink.write((dumps({label: member}) + "\n").encode())
            return
        wanted = {self.normalize(member) for member in members}
        only = [("onlyFields", name) for name in dict.fromkeys([label, *fields])]
        with tempfile.TemporaryFile() as exported:
            self.client.stream_to("/api/export/data.json", [("dataTypeName", "user"), ("range", "All"), *only],
                                  exported)
            exported.seek(0)
            for line in exported:
                try:
                    record = json.loads(line)
                except ValueError:  # a line cut off: the stream broke (stream_to raised) or the body is garbled
                    raise TransientError("MalformedResponse", "the export of users sent a line that is not JSON")
                if isinstance(record, dict) and self.normalize(record.get(label)) in wanted:
                    sink.write(line if line.endswith(b"\n") else line + b"\n")

    # ---- members ----

    def track_members(self, members: dict[str, str], current: pa.Array) -> None:
        self._members = members
        self._current = set(current.to_pylist())

    def subscriber(self, row: PlannedRow) -> dict:
        ident = str(row.match_value).strip(WHITESPACE)  # as checked and looked up (a padded email is invalid)
        entry = {"userId" if self.by_user_id else "email": ident}
        fields = {name: iterable_value(value) for name, value in row.values.items()
                  if value is not None or self._null[name] != "omit"}
        if fields:
            entry["dataFields"] = fields
        if self.by_user_id:
            entry["preferUserId"] = True
        return entry

    def part_sql(self, match: tuple[str, str], columns: list[tuple[str, str, str]], key_sql: str) -> str | None:
        """`subscriber` as one DuckDB expression (base.ColumnEncoding): the same JSON, parsed, for every row."""
        ident, fields = identifier_json_sql(*match), fields_json_sql(columns, self._null)
        if ident is None or fields is None:
            return None
        label = "userId" if self.by_user_id else "email"
        head = f"""'{{"{label}": ' || {ident}""" + (""" || ', "preferUserId": true'""" if self.by_user_id else "")
        if not columns:  # no mapped field: no dataFields
            return f"{head} || '}}'"
        data = f"""', "dataFields": ' || {fields} || '}}'"""
        if any(self._null[field] == "clear" for _, _, field in columns):  # never empty
            return f"{head} || {data}"
        # dataFields is left out when every field is omitted (all null), as `subscriber` does
        all_null = " AND ".join(f"{column_sql} IS NULL" for column_sql, _, _ in columns)
        return f"{head} || CASE WHEN {all_null} THEN '}}' ELSE {data} END"

    def batches(self, rows: Sequence[PlannedRow]) -> list[Batch]:
        """Subscribes of ≤ max_rows members and ≤ 4 MB; unsubscribes likewise (`_leaving`). RowColumns are either
        the plan's rows to send, with parts from part_sql, or the run's leaving rows (rows.leaving_rows)."""
        if isinstance(rows, RowColumns):
            if PART in rows.batch.schema.names:
                return self.pack(rows, rows.parts, rows.part_bytes())
            return self._leaving(rows)
        joining = [row for row in rows if row.operation not in LEAVING]
        leaving = [row for row in rows if row.operation in LEAVING]
        out = self.pack(joining, [dumps(self.subscriber(row)) for row in joining])
        if leaving:
            out += self._leaving(leaving_rows([row.key for row in leaving], [row.operation for row in leaving]))
        return out

    def _leaving(self, rows: RowColumns) -> list[Batch]:
        """Unsubscribes under the identifier each leaving key was subscribed with (kept in a column MEMBER); rows
        that need no call (the model still names their identifier, or none was recorded) in a batch of their own
        whose parts are None."""
        members = [self._members.get(key) for key in rows.column("key")]
        calls = [member is not None and member not in self._current for member in members]
        rows = RowColumns(rows.batch.append_column(MEMBER, strings(members)))
        label = "userId" if self.by_user_id else "email"
        out = self.pack(taken(rows, [i for i, call in enumerate(calls) if call]),
                        [dumps({label: member}) for member, call in zip(members, calls) if call])
        if not all(calls):
            settled = taken(rows, [i for i, call in enumerate(calls) if not call])
            out.append(Batch(settled, [None] * len(settled)))
        return out

    # ---- requests ----

    def send(self, batch: Batch) -> SendResult:
        if batch.parts and batch.parts[0] is None:
            return SendResult(*self._settled(batch.rows))
        if batch.rows[0].operation in LEAVING:
            answer = self._post("/api/lists/unsubscribe", batch.parts, '"channelUnsubscribe": false')
            return self._unsubscribed(batch.rows, answer)
        answer = self._post("/api/lists/subscribe", batch.parts,
                            '"updateExistingUsersOnly": true' if self.update_only else None)
        result = SendResult()
        accepted = self.refuse_listed(batch.rows, self.failed_updates(answer, "lists/subscribe"), FAILURE_LISTS,
                                      result)
        self.confirm(accepted, answer, result)
        keys = column_of(result.synced, "key")
        idents = [self.normalize(value) for value in column_of(result.synced, "match_value")]
        result.destination_ids = dict(zip(keys, idents))
        self._unsubscribe_previous(keys, idents)
        return result

    def _post(self, path: str, parts: list[str], option: str | None) -> dict:
        body = (f'{{"listId": {self.list_id}, "subscribers": [' + ", ".join(parts) + "]"
                + (f", {option}" if option else "") + "}")
        try:
            return self.client.post_json(path, body.encode())
        except DestinationError as exc:
            if exc.code in ("HTTP 400 NotFound", "HTTP 400 NotAllowed"):  # deleted, or its type changed, mid-run
                raise DestinationError(self.name, exc.code, f"Iterable refused {self.list_label} ({self.key})",
                                       "Check that the list still exists and is a static list") from None
            raise

    def _settled(self, rows: RowColumns) -> tuple[Sequence[PlannedRow], list[Rejection]]:
        """Leaving rows answered without a call: a member still named by the model stays subscribed (its key
        left, the person did not); a key with no identifier recorded cannot be unsubscribed exactly."""
        members = rows.column(MEMBER)
        rejected = [Rejection(rows[i], "MembershipUnknown", "The snapshot holds no identifier this key was "
                              f"subscribed with, so it cannot be unsubscribed from {self.list_label}: it leaves the "
                              "snapshot; remove the member in Iterable if needed", "data", record_missing=True)
                    for i, member in enumerate(members) if member is None]
        return taken(rows, [i for i, member in enumerate(members) if member is not None]), rejected

    def _unsubscribed(self, rows: RowColumns, answer: dict) -> SendResult:
        """A member Iterable reports not found (its user was deleted) is not in the list either: unsubscribed."""
        failed = self.failed_updates(answer, "lists/unsubscribe")
        label = "UserIds" if self.by_user_id else "Emails"
        invalid = {self.normalize(v) for v in failed.get(f"invalid{label}") or []}
        result, kept = SendResult(), []
        for i, member in enumerate(rows.column(MEMBER)):
            if member in invalid:
                result.rejected.append(Rejection(rows[i], "InvalidIdentifier", f"Iterable refused to unsubscribe "
                                                 f"'{member}' from {self.list_label}", "data"))
            else:
                kept.append(i)
        result.synced = taken(rows, kept)
        return result

    def _unsubscribe_previous(self, keys: list[str], idents: list[str]) -> None:
        """Members subscribed under another identifier before (a changed email) leave under the old one, unless
        the model still names it (`keys` and `idents`: the rows just subscribed). A failure raises: the batch is
        sent again (a subscribe is idempotent)."""
        label = "userId" if self.by_user_id else "email"
        previous = {member for member in map(self._members.get, keys) if member is not None} - self._current
        previous -= set(idents)
        if previous:
            self._post("/api/lists/unsubscribe", [dumps({label: ident}) for ident in sorted(previous)],
                       '"channelUnsubscribe": false')
