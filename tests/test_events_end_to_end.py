"""The seed's third sync, Iterable custom events ("Iterable - First Namespace Details Sync", update-only), end to
end over the demo warehouse and a real sandbox on loopback; and killed mid-way (SIGKILL after k of n batches),
then run again.

Expectations are computed independently: by SQL over the warehouse, and from the sandbox's customEvent export."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import requests

from demo_helpers import demo_workspace
from sync_core import StateStore, invariant_violations
from sync_core.demo.workspace import SANDBOX_PROJECT
from sync_core.destinations.iterable.events import IterableEvents, event_id

SYNC = "iterable-first-namespace-events"
EVENT = "First Namespace Created"
FIRST_NAMESPACE = """
    SELECT c.email, c.user_id, n.namespace_id, n.name, n.plan, n.region, n.created_at,
           datediff('day', c.created_at, n.created_at) AS days
    FROM marketing_contacts c JOIN namespaces n ON n.created_by_user_id = c.user_id
    WHERE c.deleted_at IS NULL
    QUALIFY row_number() OVER (PARTITION BY c.user_id ORDER BY n.created_at, n.namespace_id) = 1"""
BATCH = 40
FAST = (f'batch_size = {BATCH}\n'
        'rate_limits = { "events/trackBulk" = "200/s", "users/bulkUpdate" = "200/s", "export/data.json" = "100/min" }')


def expected_events(demo) -> tuple[dict[str, dict], int, int]:
    """(event id -> the event Iterable must hold, rows queried, rows whose person has no Iterable user), from the
    warehouse and the sandbox's users alone."""
    rows = demo.warehouse(f"SELECT *, COUNT(*) OVER (PARTITION BY trim(email)) FROM ({FIRST_NAMESPACE})")
    user_ids = {u["userId"] for u in demo.users() if u["userId"]}
    events, missing = {}, 0
    for email, user_id, ns_id, name, plan, region, created, days, copies in rows:
        if email is None or not email.strip() or copies > 1:
            continue  # refused by the planner: null or duplicate key
        if user_id not in user_ids:
            missing += 1
            continue
        events[event_id(SYNC, email.strip())] = {
            "userId": user_id, "eventName": EVENT, "createdAt": created.strftime("%Y-%m-%d %H:%M:%S +00:00"),
            "dataFields": {k: v for k, v in (("namespaceId", ns_id), ("namespaceName", name), ("plan", plan),
                                             ("region", region), ("daysToFirstNamespace", days)) if v is not None}}
    return events, len(rows), missing


def exported(demo) -> list[dict]:
    """The sync's events as the sandbox's customEvent export gives them (no filter by name there: ours here)."""
    key = demo.workspace.destinations["iterable"].api_key.resolve(demo.root)
    response = requests.get(f"{demo.server.url}/api/export/data.json", headers={"Api-Key": key},
                            params={"dataTypeName": "customEvent", "range": "All"}, timeout=30)
    response.raise_for_status()
    lines = [json.loads(line) for line in response.text.splitlines() if line.strip()]
    return [e for e in lines if e["eventName"] == EVENT]


def test_the_demo_events_sync_runs_end_to_end(tmp_path):
    with demo_workspace(tmp_path, rate_limits=False) as demo:
        expected, queried, missing = expected_events(demo)
        run = demo.run(SYNC)
        counts = run.counts.as_dict()
        assert invariant_violations(counts) == []
        assert counts["queried"] == queried
        assert counts["synced"] == len(expected) > 0
        assert counts["rejected_expected"] == missing > 0  # people the product has not created yet
        assert run.status in ("healthy", "warning"), run.error

        held = exported(demo)
        assert len(held) == len({e["id"] for e in held}) == len(expected)
        for event in held:
            want = expected[event["id"]]
            assert {k: event[k] for k in want} == want, event["id"]
        # The snapshot is the set of events the sandbox holds for the sync.
        assert {event_id(SYNC, k) for k in demo.snapshot(SYNC)} == {e["id"] for e in held}
        # Not-found people cost no call: every trackBulk carried only people who exist.
        user_ids = {u["userId"] for u in demo.users()}
        sent = {i for r in demo.sandbox.requests(endpoint="events/trackBulk") for i in r["identifiers"]}
        assert sent <= user_ids

        again = demo.run(SYNC)  # nothing changed: nothing sent
        assert again.counts.as_dict()["unchanged"] == len(expected)
        assert len(exported(demo)) == len(expected)


def test_the_events_sync_shares_the_user_syncs_look_up_of_who_exists(tmp_path):
    with demo_workspace(tmp_path, rate_limits=False) as demo:
        users = demo.run("iterable-first-namespace")  # update-only by userId, as the events sync
        assert any("full export" in note for note in users.notes), users.notes
        events = demo.run(SYNC)
        assert any(note.startswith("Used the look-up of existing records") for note in events.notes), events.notes
        # one full export of userIds for both syncs: the events run, moments later, exports nothing
        assert len(demo.sandbox.requests(endpoint="export/data.json")) == 1


@pytest.mark.parametrize("k", [1, 3, 7])
def test_kill_after_k_of_n_batches_then_rerun_leaves_one_event_per_key(tmp_path, k):
    with demo_workspace(tmp_path, rate_limits=False, destination_settings=FAST) as demo:
        expected, _, _ = expected_events(demo)
        n = -(-len(expected) // BATCH)
        assert k < n
        demo.kill_after_writes(SYNC, "events/trackBulk", k)

        with StateStore(demo.workspace.state_path) as store:
            [killed] = store.list_runs()
        assert killed.status == "interrupted"
        assert invariant_violations(killed.counts.as_dict()) == []
        assert {event_id(SYNC, key) for key in demo.snapshot(SYNC)} <= {e["id"] for e in exported(demo)}

        rerun = demo.run(SYNC)
        assert invariant_violations(rerun.counts.as_dict()) == []
        held = exported(demo)
        ids = Counter(e["id"] for e in held)
        assert max(ids.values()) == 1, "an event id is held twice"
        people = Counter((e["userId"], e["eventName"], e["dataFields"]["namespaceId"]) for e in held)
        assert max(people.values()) == 1, "one person's event for one key is held twice"
        assert set(ids) == set(expected) == {event_id(SYNC, key) for key in demo.snapshot(SYNC)}
        assert demo.sandbox.event_count(SANDBOX_PROJECT) == len(expected)
        # What the killed run had in flight was sent again and updated its events instead of adding any.
        writes = sum(len(r["stored"] or []) for r in demo.sandbox.requests(endpoint="events/trackBulk"))
        assert len(expected) <= writes <= len(expected) + IterableEvents.DEFAULT_CONCURRENCY * BATCH
