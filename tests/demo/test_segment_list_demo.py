"""The demo's segment sync (customers with at least one namespace, kept as a static Iterable list): its first run
subscribes the members, a demo day later the run unsubscribes exactly those who left, and after each run the
sandbox's list membership, read back over HTTP, equals the segment's valid keys that exist as Iterable users,
computed here from the warehouse and the sandbox apart from the engine; a reconciliation then finds it clean."""

from __future__ import annotations

import re

import requests

from sync_core import invariant_violations
from sync_core.demo.workspace import SANDBOX_PROJECT, SEGMENT_LIST, advance_demo
from sync_core.reconcile import reconcile

from demo_helpers import demo_workspace

SYNC = "iterable-customers-list"
SEGMENT = ("SELECT c.email FROM marketing_contacts c WHERE c.deleted_at IS NULL AND c.lifecycle_stage = 'customer' "
           "AND EXISTS (SELECT 1 FROM namespace_members m WHERE m.user_id = c.user_id)")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
SPACES = " \t\n\r\x0b\x0c"


def expected_members(demo) -> set[str]:
    """The segment's rows whose key (the email, trimmed) is present and unique, whose email is valid and shared by
    no other key (compared as Iterable does: without letter case), and whose person exists in the sandbox."""
    keys = [(e or "").strip(SPACES) for (e,) in demo.warehouse(SEGMENT)]
    unique = [k for k in keys if k and keys.count(k) == 1]
    idents = [k.lower() for k in unique]
    users = {u["email"] for u in demo.sandbox.users(SANDBOX_PROJECT) if u["email"]}
    return {i for i in idents if idents.count(i) == 1 and EMAIL.fullmatch(i) and i in users}


def members(demo, list_id: int) -> set[str]:
    workspace = demo.workspace
    key = workspace.destinations["iterable"].api_key.resolve(workspace.root)
    answer = requests.get(f"{demo.server.url}/api/lists/getUsers", headers={"Api-Key": key},
                          params={"listId": list_id}, timeout=30)
    answer.raise_for_status()
    return set(answer.text.splitlines())


def test_a_segment_sync_subscribes_members_and_a_day_later_unsubscribes_those_who_left(tmp_path):
    with demo_workspace(tmp_path, rate_limits=False) as demo:
        [list_id] = [entry["id"] for entry in demo.sandbox.lists(SANDBOX_PROJECT) if entry["name"] == SEGMENT_LIST]
        first = demo.run(SYNC)
        counts = first.counts.as_dict()
        assert first.status in ("healthy", "warning"), first.error
        assert invariant_violations(counts) == []
        assert counts["synced"] > 0 and counts["rejected_expected"] > 0  # people the product has not created yet
        day_one = expected_members(demo)
        assert members(demo, list_id) == day_one and len(day_one) == counts["synced"]

        last_request = demo.sandbox.requests()[-1]["id"]
        advance_demo(demo.workspace)
        second = demo.run(SYNC)
        counts = second.counts.as_dict()
        assert second.status in ("healthy", "warning"), second.error
        assert invariant_violations(counts) == []
        day_two = expected_members(demo)
        left = day_one - day_two
        assert left and counts["removed"] >= len(left)  # customers churned or deleted overnight
        unsubscribed = {i.lower() for r in demo.sandbox.requests(endpoint="lists/unsubscribe", since_id=last_request)
                        for i in r["identifiers"]}
        assert unsubscribed == left
        assert members(demo, list_id) == day_two

        report = reconcile(demo.workspace, SYNC)  # the membership read back by the list's ReadBack
        assert report.clean and report.funnel.present == len(day_two) and report.funnel.unknown_to_model == 0
