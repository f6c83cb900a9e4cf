"""Iterable's user and event API as the sandbox answers it: its routes, its error envelope, its own fault kinds.

The request pipeline (log, route, authenticate, faults, rate limits) is the core's `VendorApi`; this module holds
what Iterable answers: `POST /api/users/bulkUpdate` (with `updateOnly`), `getByEmail`, `byUserId`,
`GET /api/users/{email}`, `GET /api/export/data.json` with `onlyFields` and `omitFields`, and lists (`GET
/api/lists`, creating a static one, subscribe, unsubscribe, getUsers; their state is lists.py's); custom events (trackBulk, reads,
customEvent export lines) are events.py's.
"""

from __future__ import annotations

import calendar
import json
import re
import time
from typing import Any, Callable, Iterable, Iterator, Mapping

from ..core import HTTP_FAULT_EFFECTS, Call, Reply, Route, VendorApi, json_reply
from . import events
from .state import IterableState
from .user_batch import Outcome, UserUpdate

MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_USER_ID_LENGTH = 512
EXPORT_LINES_PER_CHUNK = 1000
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_DAY = 86400


def error_reply(status: int, code: str, msg: str, **extra: Any) -> Reply:
    """Iterable's error envelope: `{"msg", "code", "params"}`, with the code in the request log."""
    return json_reply(status, {"msg": msg, "code": code, "params": None}, code=code, **extra)


def iterable_time(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S +00:00", time.gmtime(epoch))


class IterableApi(VendorApi):
    state: IterableState

    def account_for(self, headers: Mapping[str, str], query: dict[str, list[str]]) -> str | None:
        api_key = next((v for k, v in headers.items() if k.lower() == "api-key"), None)
        return self.state.project_for_key(api_key) if api_key else None

    def rate_limited_account(self, project: str) -> bool:
        return self.state.rate_limits_enabled(project)

    def error_reply(self, status: int, code: str, message: str, **extra: Any) -> Reply:
        return error_reply(status, code, message, **extra)

    def unauthorized_reply(self) -> Reply:
        return error_reply(401, "BadApiKey", "Invalid API key")

    # --- users ----------------------------------------------------------------------

    def _bulk_update(self, call: Call) -> Reply:
        if len(call.body) > MAX_BODY_BYTES:
            return error_reply(
                400, "BatchTooLarge", f"Body is {len(call.body)} bytes; limit {MAX_BODY_BYTES}"
            )
        try:
            payload = json.loads(call.body)
        except ValueError as error:  # includes undecodable bytes
            return error_reply(400, "BadJsonBody", f"Could not parse JSON body: {error}")
        users = payload.get("users") if isinstance(payload, dict) else None
        if not isinstance(users, list):
            return error_reply(400, "BadParams", "users must be a list")

        result = _empty_bulk_result()
        updates, reported_as = self._user_updates(users, result["failedUpdates"])

        applied = self.state.apply_user_updates(
            call.project,
            updates,
            now=self.clock.now(),
            update_only=payload.get("updateOnly") is True,
            create_new_fields=payload.get("createNewFields") is not False,
            request_id=call.request_id,
        )
        return _tallied(result, users, reported_as, updates, applied)

    def _user_updates(self, users: list, failed: dict) -> tuple[list[UserUpdate], list[tuple[str, str]]]:
        """The updates a list of users asks for, and how each is named in the answer's lists; the refused ones
        recorded in `failed`."""
        updates: list[UserUpdate] = []
        reported_as: list[tuple[str, str]] = []  # (list suffix, identifier as sent)
        for user in users:
            update = _user_update(user, failed)
            if update is not None:
                updates.append(update)
                email, user_id = user.get("email"), user.get("userId")
                reported_as.append(("Emails", email) if email is not None else ("UserIds", user_id))
        return updates, reported_as

    def _get_by_email(self, call: Call) -> Reply:
        email = _first(call.query, "email")
        if not email:
            return error_reply(400, "BadParams", "email is required")
        return self._user_reply(call.project, email=email)

    def _get_by_path_email(self, call: Call) -> Reply:
        return self._user_reply(call.project, email=call.path_params["email"])

    def _get_by_user_id(self, call: Call) -> Reply:
        return self._user_reply(call.project, user_id=call.path_params["user_id"])

    def _user_reply(self, project: str, **identity: str) -> Reply:
        user = self.state.get_user(project, **identity)
        if user is None:
            return json_reply(200, {})  # Iterable answers an unknown user with 200 {}
        public = _identity_fields(user)
        public["dataFields"] = user["dataFields"]
        public["profileUpdatedAt"] = iterable_time(user["profileUpdatedAt"])
        return json_reply(200, {"user": public})

    # --- export ---------------------------------------------------------------------

    def _export_data(self, call: Call) -> Reply:
        kind = _first(call.query, "dataTypeName")
        if kind not in ("user", "customEvent"):
            return error_reply(400, "BadParams", "dataTypeName must be user or customEvent")
        try:
            updated_from, updated_before = self._export_window(call.query)
        except ValueError as error:
            return error_reply(400, "BadParams", str(error))
        if kind == "customEvent":  # the window is on the events' createdAt; every event comes, whatever its name
            found = self.state.iter_events(call.project, created_from=updated_from, created_before=updated_before)
            return Reply(200, events.json_line_chunks(map(events.public_event, found)),
                         content_type="application/x-json-stream")
        only_fields = [name for name in call.query.get("onlyFields", []) if name]
        omit_fields = {name for name in (_first(call.query, "omitFields") or "").split(",") if name}
        if only_fields and set(only_fields) <= {"email", "userId", "profileUpdatedAt"}:  # an export of identifiers
            fields = [name for name in dict.fromkeys(only_fields) if name not in omit_fields]
            chunks = self.state.identity_lines(
                call.project, fields, updated_from=updated_from, updated_before=updated_before
            )
        else:
            users = self.state.iter_users(call.project, updated_from=updated_from, updated_before=updated_before)
            chunks = _export_chunks(users, only_fields, omit_fields)
        return Reply(200, chunks, content_type="application/x-json-stream")

    def _export_window(self, query: dict[str, list[str]]) -> tuple[float | None, float | None]:
        """(inclusive start, exclusive end) on profileUpdatedAt; None is unbounded."""
        start, end = _first(query, "startDateTime"), _first(query, "endDateTime")
        if start or end:
            return (_parse_datetime(start) if start else None, _parse_datetime(end) if end else None)
        today = self.clock.now() // _DAY * _DAY
        windows = {
            "All": (None, None),
            "Today": (today, None),
            "Yesterday": (today - _DAY, today),
            "BeforeToday": (None, today),
        }
        name = _first(query, "range")
        if name not in windows:
            raise ValueError(
                "give range (All, Today, Yesterday, BeforeToday) or startDateTime/endDateTime"
            )
        return windows[name]

    # --- lists --------------------------------------------------------------------------

    def _process(self, route: Route, call: Call) -> Reply:
        """A read-only key is refused every write (UNCONFIRMED: Iterable's answer to a key without the
        permission; its envelope has a `Forbidden` code)."""
        if route.method == "POST" and self.state.key_scope(call.project) == "read_only":
            return error_reply(403, "Forbidden", f"This API key is read-only: it cannot call {route.endpoint}")
        return super()._process(route, call)

    def _lists(self, call: Call) -> Reply:
        return json_reply(200, {"lists": self.state.lists(call.project)})

    def _create_list(self, call: Call) -> Reply:
        """A new static list: `{"name", "description"?}` -> `{"listId"}`."""
        try:
            payload = json.loads(call.body)
        except ValueError as error:
            return error_reply(400, "BadJsonBody", f"Could not parse JSON body: {error}")
        name = payload.get("name") if isinstance(payload, dict) else None
        if not isinstance(name, str) or not name.strip():
            return error_reply(400, "BadParams", "name must be a non-empty string")
        description = payload.get("description")
        list_id = self.state.add_list(call.project, name, description=description if isinstance(description, str)
                                      else None, now=self.clock.now())
        return json_reply(200, {"listId": list_id})

    def _subscribe(self, call: Call) -> Reply:
        request = self._list_request(call)
        if isinstance(request, Reply):
            return request
        list_id, subscribers, payload, result, updates, reported_as = request
        applied = self.state.subscribe(call.project, list_id, updates, now=self.clock.now(),
                                       update_only=payload.get("updateExistingUsersOnly") is True,
                                       request_id=call.request_id)
        return _tallied(result, subscribers, reported_as, updates, applied)

    def _unsubscribe(self, call: Call) -> Reply:
        request = self._list_request(call)
        if isinstance(request, Reply):
            return request
        list_id, subscribers, _, result, updates, reported_as = request
        failed = result["failedUpdates"]
        found = self.state.unsubscribe(call.project, list_id, [(u.email, u.user_id) for u in updates])
        removed = []
        for (suffix, identifier), update, was_found in zip(reported_as, updates, found):
            if was_found:
                result["successCount"] += 1
                removed.append(update.email or update.user_id)
            else:
                failed["notFound" + suffix].append(identifier)
        result["failCount"] = len(subscribers) - result["successCount"]
        result["invalidEmails"], result["invalidUserIds"] = failed["invalidEmails"], failed["invalidUserIds"]
        return json_reply(200, result, items=len(subscribers), identifiers=_identifiers_carried(subscribers),
                          stored=removed)

    def _list_request(self, call: Call) -> tuple[int, list, dict, dict, list[UserUpdate], list] | Reply:
        """(listId, subscribers, body, bulk result, updates, reported_as) of a subscribe or unsubscribe, the
        subscribers read as user updates (those refused already in the result's failedUpdates); or the 400 that
        refuses the request."""
        if len(call.body) > MAX_BODY_BYTES:
            return error_reply(400, "BatchTooLarge", f"Body is {len(call.body)} bytes; limit {MAX_BODY_BYTES}")
        try:
            payload = json.loads(call.body)
        except ValueError as error:
            return error_reply(400, "BadJsonBody", f"Could not parse JSON body: {error}")
        if not isinstance(payload, dict):
            return error_reply(400, "BadParams", "the body must be a JSON object")
        list_id, subscribers = payload.get("listId"), payload.get("subscribers")
        if not isinstance(list_id, int) or isinstance(list_id, bool):
            return error_reply(400, "BadParams", "listId must be a number")
        if not isinstance(subscribers, list):
            return error_reply(400, "BadParams", "subscribers must be a list")
        refused = self._list_refusal(call.project, list_id)
        if refused:
            return refused
        result = _empty_bulk_result()
        updates, reported_as = self._user_updates(subscribers, result["failedUpdates"])
        return list_id, subscribers, payload, result, updates, reported_as

    def _list_refusal(self, project: str, list_id: int) -> Reply | None:
        """UNCONFIRMED codes: an unknown list is `NotFound`, a list that takes no subscribers `NotAllowed`."""
        described = self.state.list_of(project, list_id)
        if described is None:
            return error_reply(400, "NotFound", f"List {list_id} does not exist in this project")
        if described["listType"] != "Standard":
            return error_reply(400, "NotAllowed", f"List {list_id} is a {described['listType']} list: only "
                                                  "static (Standard) lists take subscribers")
        return None

    def _list_users(self, call: Call) -> Reply:
        """The members, one per line, as text (the documented answer is a string)."""
        try:
            list_id = int(_first(call.query, "listId") or "")
        except ValueError:
            return error_reply(400, "BadParams", "listId must be a number")
        if self.state.list_of(call.project, list_id) is None:
            return error_reply(400, "NotFound", f"List {list_id} does not exist in this project")
        members = self.state.list_members(call.project, list_id,
                                          prefer_user_id=_first(call.query, "preferUserId") == "true")
        return Reply(200, "".join(f"{m}\n" for m in members).encode(), content_type="text/plain",
                     items=len(members))

    # --- events -------------------------------------------------------------------------

    def _track_bulk(self, call: Call) -> Reply:
        return events.track_bulk(self, call)

    def _events_of_email(self, call: Call) -> Reply:
        return events.user_events(self, call, email=call.path_params["email"])

    def _events_of_user_id(self, call: Call) -> Reply:
        return events.user_events(self, call, user_id=call.path_params["user_id"])

    _GET_LIMIT = (100, 1.0)
    ROUTES = (
        Route("POST", r"/api/users/bulkUpdate", "users/bulkUpdate", _bulk_update, 5, 1.0),
        Route("GET", r"/api/users/getByEmail", "users/getByEmail", _get_by_email, *_GET_LIMIT),
        Route("GET", r"/api/users/byUserId/(?P<user_id>[^/]+)", "users/byUserId", _get_by_user_id, *_GET_LIMIT),
        Route("GET", r"/api/users/(?P<email>[^/]+)", "users/get", _get_by_path_email, *_GET_LIMIT),
        Route("GET", r"/api/export/data\.json", "export/data.json", _export_data, 4, 60.0),
        # Iterable publishes no limit for subscribe and unsubscribe: 5/s is ours (UNCONFIRMED), as bulkUpdate's.
        Route("GET", r"/api/lists", "lists", _lists, *_GET_LIMIT),
        Route("POST", r"/api/lists", "lists/create", _create_list, *_GET_LIMIT),
        Route("POST", r"/api/lists/subscribe", "lists/subscribe", _subscribe, 5, 1.0),
        Route("POST", r"/api/lists/unsubscribe", "lists/unsubscribe", _unsubscribe, 5, 1.0),
        Route("GET", r"/api/lists/getUsers", "lists/getUsers", _list_users, 5, 60.0),
        Route("POST", r"/api/events/trackBulk", "events/trackBulk", _track_bulk, 10, 1.0),
        Route("GET", r"/api/events/byUserId/(?P<user_id>[^/]+)", "events/byUserId", _events_of_user_id, *_GET_LIMIT),
        Route("GET", r"/api/events/(?P<email>[^/]+)", "events/get", _events_of_email, *_GET_LIMIT),
    )

# --- Iterable's own fault kinds ---------------------------------------------------------


def _bad_row(api: IterableApi, params: dict, process: Callable[[], Reply]) -> Reply:
    identifier = params["identifier"]
    return error_reply(400, "BadParams", f"Invalid data for user {identifier}: a field failed validation")


def _refused(api: IterableApi, params: dict, process: Callable[[], Reply]) -> Reply:
    # A 400 for the request itself, whatever rows it holds (an account setting, a parameter the project refuses).
    return error_reply(400, params["code"], "The request was refused for this project")


IterableApi.FAULT_EFFECTS = {**HTTP_FAULT_EFFECTS, "bad_row": _bad_row, "refused": _refused}


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _empty_bulk_result() -> dict:
    failed_lists = (
        "invalidEmails", "invalidUserIds", "invalidDataEmails", "invalidDataUserIds",
        "forgottenEmails", "forgottenUserIds", "conflictEmails", "conflictUserIds",
        "notFoundEmails", "notFoundUserIds",
    )
    return {
        "successCount": 0,
        "failCount": 0,
        "invalidEmails": [],
        "invalidUserIds": [],
        "filteredOutFields": [],
        "createdFields": [],
        "failedUpdates": {name: [] for name in failed_lists},
    }


def _tallied(result: dict, users: list, reported_as: list[tuple[str, str]], updates: list[UserUpdate],
             applied) -> Reply:
    """The answer of a request that updated users (bulkUpdate, lists/subscribe): each refused update in its
    failedUpdates list, the counts, and the deprecated top-level copies."""
    failed = result["failedUpdates"]
    failure_list = {
        Outcome.NOT_FOUND: "notFound",
        Outcome.TYPE_MISMATCH: "invalidData",
        Outcome.CONFLICT: "conflict",
    }
    stored = []
    for (suffix, identifier), update, outcome in zip(reported_as, updates, applied.outcomes):
        if outcome in (Outcome.CREATED, Outcome.UPDATED):
            result["successCount"] += 1
            stored.append(update.email or update.user_id)  # the identity it was matched by
        else:
            failed[failure_list[outcome] + suffix].append(identifier)
    result["failCount"] = len(users) - result["successCount"]
    result["invalidEmails"] = failed["invalidEmails"]  # deprecated copies
    result["invalidUserIds"] = failed["invalidUserIds"]
    result["createdFields"] = applied.created_fields
    result["filteredOutFields"] = applied.filtered_out_fields
    return json_reply(200, result, items=len(users), identifiers=_identifiers_carried(users), stored=stored)


def _user_update(user: Any, failed: dict[str, list]) -> UserUpdate | None:
    """The update a bulkUpdate entry asks for, or None after recording why it is refused."""
    if not isinstance(user, dict) or not isinstance(user.get("dataFields") or {}, dict):
        return None
    email, user_id = user.get("email"), user.get("userId")
    if email is not None and not (isinstance(email, str) and _EMAIL.fullmatch(email)):
        failed["invalidEmails"].append(email)
        return None
    if user_id is not None and not (
        isinstance(user_id, str) and 0 < len(user_id) <= MAX_USER_ID_LENGTH
    ):
        failed["invalidUserIds"].append(user_id)
        return None
    if email is None and user_id is None:
        return None  # counted in failCount only
    return UserUpdate(
        email, user_id, user.get("dataFields") or {}, user.get("mergeNestedObjects") is True
    )


def _identifiers_carried(users: list) -> list:
    carried = []
    for user in users:
        if isinstance(user, dict):
            carried.extend(user[key] for key in ("email", "userId") if user.get(key) is not None)
    return carried


def _identity_fields(user: dict) -> dict:
    """email and userId, leaving out the one a user does not have."""
    identity = {"email": user["email"], "userId": user["userId"]}
    return {key: value for key, value in identity.items() if value is not None}


def _parse_datetime(text: str) -> float:
    try:
        return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S"))
    except ValueError:
        raise ValueError(f"{text!r} is not yyyy-MM-dd HH:mm:ss") from None


def _export_line(user: dict, only_fields: list[str], omit_fields: set[str]) -> dict:
    line = _identity_fields(user)
    line["profileUpdatedAt"] = iterable_time(user["profileUpdatedAt"])
    for name, value in user["dataFields"].items():
        line.setdefault(name, value)  # Iterable flattens dataFields into the line
    if only_fields:
        line = {name: line[name] for name in only_fields if name in line}
    return {name: value for name, value in line.items() if name not in omit_fields}


def _export_chunks(
    users: Iterable[dict], only_fields: list[str], omit_fields: set[str]
) -> Iterator[bytes]:
    return events.json_line_chunks(
        (_export_line(user, only_fields, omit_fields) for user in users), EXPORT_LINES_PER_CHUNK
    )
