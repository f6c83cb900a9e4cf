"""Reading a sync's custom activities back from Marketo, for reconciliation (reconcile/; the ReadBackByRecordId
capability of activities.py): every activity of the sync's type added since the sync's first run, through a paging
token (`GET /rest/v1/activities/pagingtoken.json?sinceDatetime=…`), then pages of
`GET /rest/v1/activities.json?nextPageToken=…&activityTypeIds=<the type>` while `moreResult` is true. A page scans
300 activities of every type, so one can be empty and not be the last: how many pages a read takes depends on all
the instance's activities in the window, known only by reading them (the snapshot's count gives a lower bound).

Each line written holds `_record` (the marketoGUID), `_owner` (the leadId) and the fields asked for: activityDate,
primaryAttributeValue, and each attribute under its API name (Marketo lists attributes under `name`; a display
name is mapped to its API name by the type's description). An attribute Marketo leaves out (empty) is absent.

Limits: every call is a REST call of the instance. It takes a slot of the client's `rest` limit (100 per 20 s),
which every run of the workspace shares, so a reconciliation never makes a run meet a 606; and it counts in the
instance's daily quota. Before reading, the quota left to syncs (the quota, less the reserve for other
integrations, less what the instance used today) must still leave the sync's next run what a full run needs (a
look-up and an add per batch of its synced rows): what remains is the read's budget. When that does not cover the
read's lower bound, nothing is read and the reconciliation says so; a read that spends its budget, or meets
Marketo's 607 (the quota used up), stops there as partial. A page that fails (606, 608, 611, 713, 5xx, a timeout)
is retried alone, as a run's request is; one that stays failed stops the read as partial, never complete, without
reading the pages before it again.

Which date the paging token's window is by (when an activity was added, or its activityDate, which a sync may set
in the past) the vendor's docs do not settle; the sandbox takes when it was added.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import BinaryIO

from ...errors import DestinationUnavailable
from ...executor import Executor
from ...marketo_day import reset_time_text
from ..base import BatchRejected, ReadStopped, TransientError
from . import ACTIVITY_DATE, PRIMARY_ATTRIBUTE
from .client import BUDGET_CODE, QUOTA_CODE

PAGING_TOKEN, ACTIVITIES = "/rest/v1/activities/pagingtoken.json", "/rest/v1/activities.json"
ACTIVITIES_SCANNED_PER_PAGE = 300
# The window opens this long before the first run, in case Marketo's clock is behind ours.
CLOCK_MARGIN_SECONDS = 3600


@dataclass(frozen=True)
class ReadPlan:
    since: float  # epoch seconds: the window's start
    budget: int  # REST calls the read may make


def plan_read(activities, since: float, records: int) -> ReadPlan:
    """For the sync's MarketoActivities (activities.py, which imports this module): check the activity type and
    today's quota; the read's plan, or DestinationUnavailable saying why the quota does not allow it (nothing is
    read then)."""
    activities.activity_type_id()
    client, settings = activities.client, activities.settings
    quota, reserve = int(settings["daily_quota"]), float(settings["daily_quota_reserve"])
    used = client.calls_today()
    for_the_sync = 2 * math.ceil(records / activities.max_rows)
    budget = math.floor(quota * (1 - reserve)) - used - for_the_sync
    needed = 1 + max(1, math.ceil(records / ACTIVITIES_SCANNED_PER_PAGE))
    if budget < needed:
        raise DestinationUnavailable(
            activities.name, BUDGET_CODE,
            f"Marketo's daily quota leaves a reconciliation {max(budget, 0):,} calls today ({quota:,} a day, "
            f"{reserve:.0%} kept for other integrations, {used:,} used today, {for_the_sync:,} kept for the sync's "
            f"next run); reading its {records:,} activities back takes at least {needed:,}, so nothing was read",
            f"Reconcile after the quota resets at {reset_time_text(client.limits.clock.now())} (midnight US "
            "Central), or lower daily_quota_reserve if other integrations need less")
    return ReadPlan(since - CLOCK_MARGIN_SECONDS, budget)


@dataclass
class ReadCount:
    """What a read did so far (kept when it stops part way)."""
    pages: int = 0
    activities: int = 0
    calls: int = 0  # REST calls of the quota, retries included

    def note(self, plan: ReadPlan, activity_type: str) -> str:
        since = datetime.fromtimestamp(plan.since, timezone.utc).isoformat(timespec="seconds")
        return (f"read {self.activities:,} activities of the type '{activity_type}' added since {since} (the first "
                f"run, less {CLOCK_MARGIN_SECONDS // 60} minutes for clock skew) in {self.pages:,} pages; "
                f"{self.calls:,} REST calls of the daily quota, of the {plan.budget:,} it left this read")


def read_activities(activities, plan: ReadPlan, fields: list[str], sink: BinaryIO,
                    count: ReadCount) -> None:
    """Write the activities of the sync's type in the plan's window to `sink` as JSON lines, counting in `count`."""
    client = activities.client
    type_id = activities.activity_type_id()
    api_names = activities.attribute_api_names
    client.budget = plan.budget
    attempts, max_retry_after = activities.retries
    executor = Executor(activities, max_attempts=attempts, concurrency=1, sleep=client.limits.clock.sleep,
                        max_retry_after=max_retry_after)

    def call(path: str, params: dict, what: str) -> dict:
        try:
            return executor.call(lambda: client.call("GET", path, params=params), f"{activities.name}: {what}")
        except TransientError as exc:
            raise ReadStopped(f"reading activities back failed {exc.attempts} times at {what}, the last with "
                              f"{exc.code}: {exc.message}") from None
        except BatchRejected as exc:
            raise ReadStopped(f"Marketo refused {what} with {exc.code}: {exc.message}") from None
        except DestinationUnavailable as exc:
            if exc.code not in (QUOTA_CODE, BUDGET_CODE):
                raise
            raise ReadStopped(f"the daily quota stopped reading activities back at {what}: {exc}") from None

    since = datetime.fromtimestamp(plan.since, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        token = call(PAGING_TOKEN, {"sinceDatetime": since}, "the paging token").get("nextPageToken")
        while token:
            body = call(ACTIVITIES, {"nextPageToken": token, "activityTypeIds": str(type_id)},
                        f"page {count.pages + 1}")
            count.pages += 1
            lines = [_line(a, fields, api_names) for a in body.get("result") or []
                     if isinstance(a, dict) and a.get("activityTypeId") == type_id]
            sink.write("".join(json.dumps(line, default=str) + "\n" for line in lines).encode())
            count.activities += len(lines)
            if not body.get("moreResult"):
                return
            token = body.get("nextPageToken")
        raise ReadStopped(f"Marketo answered {f'page {count.pages}' if count.pages else 'the paging token'} "
                          "without a nextPageToken, though more activities follow")
    finally:
        count.calls = plan.budget - client.budget  # the client takes one of the budget per call, retries too


def _line(activity: dict, fields: list[str], api_names: dict[str, str]) -> dict:
    """One activity as a line: its id, its lead, and the fields asked for that it holds."""
    values = {ACTIVITY_DATE: activity.get("activityDate"), PRIMARY_ATTRIBUTE: activity.get("primaryAttributeValue")}
    for attribute in activity.get("attributes") or []:
        if isinstance(attribute, dict):
            name = attribute.get("apiName") or attribute.get("name")
            values[api_names.get(name, name)] = attribute.get("value")
    guid = activity.get("marketoGUID")
    line = {"_record": None if guid is None else str(guid), "_owner": str(activity.get("leadId"))}
    line.update((name, values[name]) for name in fields if name in values)
    return line
