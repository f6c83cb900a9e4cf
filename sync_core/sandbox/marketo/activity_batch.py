"""One `POST /rest/v1/activities/external.json`: each input checked as Marketo checks it, into one result per input
in input order (`{"id", "marketoGUID", "status": "added"}` or `{"status": "skipped", "errors": [...]}`), and the
valid ones stored together."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .state import ActivityType, MarketoState

MAX_ATTRIBUTES = 20  # record code 1028 past this
MAX_ATTRIBUTE_BYTES = 65_536  # record code 1049 when an activity's attribute names and values are over this


def add_activities(state: MarketoState, instance: str, inputs: list, *, now: float,
                   request_id: int) -> tuple[list[dict], list[str]]:
    """The result of each input, and the marketoGUIDs stored (the request log's `stored`)."""
    types = {activity_type.id: activity_type for activity_type in state.activity_types(instance)}
    lead_ids = {item["leadId"] for item in inputs if isinstance(item, dict) and _is_int(item.get("leadId"))}
    existing = state.existing_lead_ids(instance, lead_ids)
    results: list[dict | None] = []
    valid: list[dict] = []
    for item in inputs:
        checked = _checked(item, types, existing)
        if isinstance(checked, dict):
            valid.append(checked)
            results.append(None)  # filled with its id once stored
        else:
            code, message = checked
            results.append({"status": "skipped", "errors": [{"code": code, "message": message}]})
    ids = iter(state.add_activities(instance, valid, now=now, request_id=request_id))
    stored = []
    for index, result in enumerate(results):
        if result is None:
            activity_id = next(ids)
            results[index] = {"id": activity_id, "marketoGUID": str(activity_id), "status": "added"}
            stored.append(str(activity_id))
    return results, stored


def _checked(item: Any, types: dict[int, ActivityType], existing_leads: set[int]) -> dict | tuple[str, str]:
    """The activity to store (its date in UTC), or (record code, message)."""
    if not isinstance(item, dict):
        return "1003", "Invalid data: each input must be an object"
    for required in ("leadId", "activityTypeId", "activityDate", "primaryAttributeValue"):
        if item.get(required) in (None, ""):
            return "1002", f"Missing value for required field '{required}'"
    if not _is_int(item["leadId"]):
        return "1001", f"Invalid value '{item['leadId']}'. Required of type 'integer' for leadId"
    activity_type = types.get(item["activityTypeId"])
    if activity_type is None:
        return "1013", f"Activity type '{item['activityTypeId']}' not found"
    if activity_type.status != "approved":
        return "1003", f"Activity type '{activity_type.api_name}' is not approved"
    activity_date = _utc_date(item["activityDate"])
    if activity_date is None:
        return "1001", f"Invalid value '{item['activityDate']}'. Required of type 'datetime' for activityDate"
    attributes = item.get("attributes") or []
    if not isinstance(attributes, list) or not all(
            isinstance(a, dict) and isinstance(a.get("apiName"), str) for a in attributes):
        return "1003", "Invalid data: attributes must be a list of {apiName, value}"
    if len(attributes) > MAX_ATTRIBUTES:
        return "1028", f"More than {MAX_ATTRIBUTES} attributes"
    unknown = sorted({a["apiName"] for a in attributes} - activity_type.attribute_names)
    if unknown:
        return "1006", f"Field '{unknown[0]}' not found"
    size = sum(len(a["apiName"].encode()) + len(str(a.get("value", "")).encode()) for a in attributes)
    if size > MAX_ATTRIBUTE_BYTES:
        return "1049", f"Attributes are {size} bytes; the limit is {MAX_ATTRIBUTE_BYTES}"
    if item["leadId"] not in existing_leads:
        return "1004", "Lead not found"
    return {
        "leadId": item["leadId"], "activityTypeId": activity_type.id, "activityDate": activity_date,
        "primaryAttributeValue": str(item["primaryAttributeValue"]),
        "attributes": [{"apiName": a["apiName"], "value": a.get("value")} for a in attributes],
    }


def _utc_date(value: Any) -> str | None:
    """An ISO 8601 date-time with a time zone (Z or ±hh:mm), in UTC; None if it is not one."""
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
