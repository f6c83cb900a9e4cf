"""Marketo's REST API as the sandbox answers it: the identity service, lead look-up, custom activity types, adding
custom activities, reading activities back with a paging token, and today's usage.

Marketo answers errors with HTTP 200 and `{"success": false, "errors": [{"code", "message"}]}`, so the request log
keeps the code. Every REST call of an instance (not the identity service) counts against its limits, whatever the
endpoint: 10 in flight (615), 100 per 20 s (606), and its daily quota (607), which resets at midnight US Central.
The in-flight count is per server process; the rate window and quota are per state file.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import threading
from collections import defaultdict
from typing import Any, Callable, Mapping
from urllib.parse import parse_qs

from ...marketo_day import marketo_day, reset_time_text
from ..core import HTTP_FAULT_EFFECTS, Call, Reply, Route, VendorApi, json_reply
from .activity_batch import add_activities
from .state import MarketoState

RATE_LIMIT = (100, 20.0)  # calls per instance per window of seconds
CONCURRENT_LIMIT = 10
MAX_RECORDS = 300  # lead filter values, custom activities per call
MAX_BODY_BYTES = 1024 * 1024  # HTTP 413 past this
ACTIVITIES_SCANNED_PER_PAGE = 300
MAX_TYPE_IDS, MAX_LEAD_IDS = 10, 30  # activities.json filters
IDENTITY = "identity/oauth/token"
MESSAGES = {
    "601": "Access token invalid",
    "602": "Access token expired",
    "604": "Request time-out",
    "606": f"Max rate limit '{RATE_LIMIT[0]}' exceeded with in '{int(RATE_LIMIT[1])}' secs",
    "607": "Daily quota reached",
    "608": "API Temporarily Unavailable",
    "609": "Invalid JSON",
    "610": "Requested resource not found",
    "611": "System error",
    "612": "Invalid Content Type",
    "615": f"Concurrent access limit '{CONCURRENT_LIMIT}' reached",
    "713": "Transient Error",
}


def envelope_error(code: str, message: str | None = None, *, status: int = 200, **extra: Any) -> Reply:
    """Marketo's failure envelope, HTTP 200 unless told."""
    body = {"requestId": _request_tag(), "success": False,
            "errors": [{"code": code, "message": message or MESSAGES.get(code, "Error")}]}
    return json_reply(status, body, code=code, **extra)


def success(result: Any = None, **fields: Any) -> Reply:
    body = {"requestId": _request_tag(), "success": True, **({} if result is None else {"result": result}), **fields}
    return json_reply(200, body)


def _request_tag() -> str:
    return f"{secrets.token_hex(2)}#{secrets.token_hex(5)}"  # the shape of Marketo's requestId


class MarketoApi(VendorApi):
    state: MarketoState

    def __init__(self, state, **options: Any) -> None:
        super().__init__(state, **options)
        self._in_flight: dict[str, int] = defaultdict(int)
        self._in_flight_lock = threading.Lock()
        self._current = threading.local()  # the call a fault effect answers: it names the instance

    def account_for(self, headers: Mapping[str, str], query: dict[str, list[str]]) -> str | None:
        client_id, client_secret = _first(query, "client_id"), _first(query, "client_secret")
        if client_id is not None or client_secret is not None:
            return self.state.instance_for_credentials(client_id or "", client_secret or "")
        authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, token = authorization.partition(" ")
        holder = self.state.token_holder(token) if scheme.lower() == "bearer" and token else None
        return holder[0] if holder else None

    def rate_limited_account(self, instance: str) -> bool:
        return self.state.rate_limits_enabled(instance)

    def error_reply(self, status: int, code: str, message: str, **extra: Any) -> Reply:
        return envelope_error(code, message, status=status, **extra)

    def not_found_reply(self) -> Reply:
        return envelope_error("610", status=404)

    def unauthorized_reply(self) -> Reply:
        return envelope_error("601")

    def rate_limited_reply(self, retry_after: int | None) -> Reply:
        return envelope_error("606")  # Marketo says no Retry-After: the window is 20 s

    def server_error_reply(self, status: int, message: str) -> Reply:
        return envelope_error("611", message, status=status)

    # --- the pipeline: identity, token, concurrency, then the core's faults ---------------

    def _reply(self, route: Route | None, call: Call) -> Reply:
        self._current.call = call
        if route is not None and route.endpoint == IDENTITY:
            if call.project is None or _first(call.query, "client_id") is None:
                return json_reply(401, {"error": "unauthorized", "error_description": "Bad client credentials"},
                                  code="401")
            return super()._reply(route, call)
        if route is None or call.project is None:
            return super()._reply(route, call)
        if self._token_expired(call):
            return envelope_error("602")
        limited = self.rate_limits and self.rate_limited_account(call.project)
        if limited and not self._enter(call.project):
            return envelope_error("615")
        try:
            return super()._reply(route, call)
        finally:
            if limited:
                self._leave(call.project)

    def _process(self, route: Route, call: Call) -> Reply:
        """Rate window, then quota, then the endpoint; the identity service counts against neither."""
        if route.endpoint == IDENTITY:
            return route.handler(self, call)
        if self.rate_limits and self.rate_limited_account(call.project):
            if self._limiter.acquire(call.project, *RATE_LIMIT, now=call.arrived_at) is not None:
                return envelope_error("606")
        if not self.state.take_daily_call(call.project, call.arrived_at):
            return self._quota_reached(call)
        return route.handler(self, call)

    def _token_expired(self, call: Call) -> bool:
        token = next((v for k, v in call.headers.items() if k.lower() == "authorization"), "").partition(" ")[2]
        holder = self.state.token_holder(token)
        return holder is not None and holder[1] <= call.arrived_at

    def _enter(self, instance: str) -> bool:
        with self._in_flight_lock:
            if self._in_flight[instance] >= CONCURRENT_LIMIT:
                return False
            self._in_flight[instance] += 1
            return True

    def _leave(self, instance: str) -> None:
        with self._in_flight_lock:
            self._in_flight[instance] -= 1

    def _quota_reached(self, call: Call) -> Reply:
        resets = reset_time_text(call.arrived_at)
        return envelope_error("607", f"Daily quota reached; it resets at {resets} (midnight US Central)")

    # --- endpoints ------------------------------------------------------------------

    def _token(self, call: Call) -> Reply:
        if _first(call.query, "grant_type") != "client_credentials":
            return json_reply(400, {"error": "invalid_request", "error_description": "grant_type must be"
                                    " client_credentials"}, code="400")
        token, expires_in = self.state.issue_token(call.project, self.clock.now())
        return json_reply(200, {"access_token": token, "token_type": "bearer", "expires_in": expires_in,
                                "scope": "sandbox@example.com"})

    def _leads(self, call: Call) -> Reply:
        return self._lead_lookup(call, call.query)

    def _leads_by_post(self, call: Call) -> Reply:
        """`POST leads.json?_method=GET`: the look-up with its parameters in a form body (long filterValues)."""
        if _first(call.query, "_method") != "GET":
            return envelope_error("1003", "POST leads.json without _method=GET would create leads: not in this sandbox")
        return self._lead_lookup(call, parse_qs(call.body.decode("utf-8", "replace"), keep_blank_values=True))

    def _lead_lookup(self, call: Call, query: dict[str, list[str]]) -> Reply:
        if _first(query, "filterType") != "email":
            return envelope_error("1003", "filterType must be email in this sandbox")
        emails = [value for value in (_first(query, "filterValues") or "").split(",") if value]
        if not emails:
            return envelope_error("1003", "filterValues is required")
        if len(emails) > MAX_RECORDS:
            return envelope_error("1003", f"More than {MAX_RECORDS} filterValues")
        leads = self.state.leads_by_email(call.project, emails)
        return _logged(success(leads), items=len(emails), identifiers=emails)

    def _activity_types(self, call: Call) -> Reply:
        return success([activity_type.as_json() for activity_type in self.state.activity_types(call.project)])

    def _add_activities(self, call: Call) -> Reply:
        if len(call.body) > MAX_BODY_BYTES:
            return json_reply(413, {"error": "Request Entity Too Large"}, code="413")
        content_type = next((v for k, v in call.headers.items() if k.lower() == "content-type"), "")
        if not content_type.startswith("application/json"):
            return envelope_error("612")
        try:
            payload = json.loads(call.body)
        except ValueError:
            return envelope_error("609")
        inputs = payload.get("input") if isinstance(payload, dict) else None
        if not isinstance(inputs, list) or not inputs:
            return envelope_error("1003", "input must be a non-empty list")
        if len(inputs) > MAX_RECORDS:
            return envelope_error("1003", f"More than {MAX_RECORDS} records in input")
        results, stored = add_activities(self.state, call.project, inputs, now=self.clock.now(),
                                         request_id=call.request_id)
        leads = [str(item.get("leadId")) for item in inputs if isinstance(item, dict)]
        return _logged(success(results), items=len(inputs), identifiers=leads, stored=stored)

    def _paging_token(self, call: Call) -> Reply:
        since = _first(call.query, "sinceDatetime")
        try:
            parsed = dt.datetime.fromisoformat(since or "")
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.timezone.utc)
        except ValueError:
            return envelope_error("1003", "sinceDatetime must be an ISO 8601 date-time")
        position = self.state.last_activity_before(call.project, parsed.timestamp())
        return json_reply(200, {"requestId": _request_tag(), "success": True,
                                "nextPageToken": _paging_token(position)})

    def _activities(self, call: Call) -> Reply:
        position = _position(_first(call.query, "nextPageToken"))
        if position is None:
            return envelope_error("1003", "Invalid nextPageToken")
        try:
            type_ids = _int_list(call.query, "activityTypeIds", MAX_TYPE_IDS)
            lead_ids = _int_list(call.query, "leadIds", MAX_LEAD_IDS)
        except ValueError as error:
            return envelope_error("1003", str(error))
        if not type_ids:
            return envelope_error("1003", "activityTypeIds is required")
        scanned, more = self.state.scan_activities(call.project, position, ACTIVITIES_SCANNED_PER_PAGE)
        names = {t.id: {a["apiName"]: a["name"] for a in t.attributes} for t in self.state.activity_types(call.project)}
        page = [_read_back(activity, names.get(activity["activityTypeId"], {})) for activity in scanned
                if activity["activityTypeId"] in type_ids and (not lead_ids or activity["leadId"] in lead_ids)]
        next_position = scanned[-1]["id"] if scanned else position
        body = {"requestId": _request_tag(), "success": True, "nextPageToken": _paging_token(next_position),
                "moreResult": more}
        if page:
            body["result"] = page  # Marketo leaves `result` out of an empty page
        return json_reply(200, body)

    def _usage(self, call: Call) -> Reply:
        now = self.clock.now()
        return success([{"date": marketo_day(now), "total": self.state.daily_calls(call.project, now)}])

    _LIMITS = RATE_LIMIT  # the core's Route wants a limit; _process counts all REST endpoints in one window
    ROUTES = (
        Route("GET", r"/identity/oauth/token", IDENTITY, _token, *_LIMITS),
        Route("POST", r"/identity/oauth/token", IDENTITY, _token, *_LIMITS),
        Route("GET", r"/rest/v1/leads\.json", "leads", _leads, *_LIMITS),
        Route("POST", r"/rest/v1/leads\.json", "leads", _leads_by_post, *_LIMITS),
        Route("GET", r"/rest/v1/activities/external/types\.json", "activities/external/types", _activity_types, *_LIMITS),
        Route("POST", r"/rest/v1/activities/external\.json", "activities/external", _add_activities, *_LIMITS),
        Route("GET", r"/rest/v1/activities/pagingtoken\.json", "activities/pagingtoken", _paging_token, *_LIMITS),
        Route("GET", r"/rest/v1/activities\.json", "activities", _activities, *_LIMITS),
        Route("GET", r"/rest/v1/stats/usage\.json", "stats/usage", _usage, *_LIMITS),
    )


# --- Marketo's own fault kinds ------------------------------------------------------------


def _expired_token(api: MarketoApi, params: dict, process: Callable[[], Reply]) -> Reply:
    api.state.expire_tokens(api._current.call.project, api.clock.now())
    return envelope_error("602")


def _quota_reached(api: MarketoApi, params: dict, process: Callable[[], Reply]) -> Reply:
    call = api._current.call
    api.state.use_up_quota(call.project, call.arrived_at)
    return api._quota_reached(call)


def _concurrent_limit(api: MarketoApi, params: dict, process: Callable[[], Reply]) -> Reply:
    return envelope_error("615")


def _error_code(api: MarketoApi, params: dict, process: Callable[[], Reply]) -> Reply:
    return envelope_error(params["code"])


MarketoApi.FAULT_EFFECTS = {**HTTP_FAULT_EFFECTS, "expired_token": _expired_token, "quota_reached": _quota_reached,
                            "concurrent_limit": _concurrent_limit, "error_code": _error_code}


def _logged(reply: Reply, **log: Any) -> Reply:
    for name, value in log.items():
        setattr(reply, name, value)
    return reply


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _int_list(query: dict[str, list[str]], name: str, most: int) -> list[int]:
    text = ",".join(query.get(name, []))
    try:
        values = [int(value) for value in text.split(",") if value]
    except ValueError:
        raise ValueError(f"{name} must be integers separated by commas") from None
    if len(values) > most:
        raise ValueError(f"More than {most} {name}")
    return values


def _paging_token(position: int) -> str:
    return base64.urlsafe_b64encode(f"activities:{position}".encode()).decode()


def _position(token: str | None) -> int | None:
    try:
        kind, _, position = base64.urlsafe_b64decode((token or "").encode()).decode().partition(":")
        return int(position) if kind == "activities" else None
    except ValueError:
        return None


def _read_back(activity: dict, names: dict[str, str]) -> dict:
    """An activity as activities.json returns it: its attributes under their display names (`names`: API name ->
    display name), as Marketo lists every activity's."""
    return {
        "id": activity["id"], "marketoGUID": activity["marketoGUID"], "leadId": activity["leadId"],
        "activityDate": activity["activityDate"], "activityTypeId": activity["activityTypeId"],
        "primaryAttributeValue": activity["primaryAttributeValue"],
        "attributes": [{"name": names.get(a["apiName"], a["apiName"]), "value": a["value"]}
                       for a in activity["attributes"]],
    }
