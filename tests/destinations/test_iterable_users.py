"""The Iterable users destination against the sandbox over real HTTP."""

from __future__ import annotations

import json
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from sync_core.clock import ManualClock
from sync_core.config import DestinationConfig, Mapping, SyncConfig
from sync_core.destinations.base import TransientError
from sync_core.destinations.iterable.users import IterableUsers, iterable_value
from sync_core.errors import DestinationError
from sync_core.rows import PlannedRow
from sync_core.schedules import Schedule
from sync_core.ratelimit import Limit, SharedRateLimits
from sync_core.sandbox import IterableSandbox
from sync_core.secrets import SecretRef

KEY = "test-key-123"


@pytest.fixture
def server(tmp_path):
    with IterableSandbox(tmp_path / "sb.sqlite", port=0) as srv:
        srv.state.add_project("p", KEY)
        srv.state.upsert_users("p", [{"email": "known@x.io", "userId": "u1", "dataFields": {"score": 1}},
                                     {"email": "Other@X.io", "userId": "u2", "dataFields": {}}])
        yield srv


def destination(server, *, mode="update", match="email", key=KEY, nulls="omit", limits_file=None):
    config = DestinationConfig("iterable", "iterable", server.url, SecretRef("env", "K", "ws.toml", "k"),
                               timeout_seconds=5)
    sync = SyncConfig("s", "S", "m", "iterable", "user", mode, match, "email",
                      (Mapping("score", "score"), Mapping("plan", "plan", nulls)), Schedule("manual"), ())
    # No client-side limit unless asked: these tests look at what the API answers.
    limits = {"users/bulkUpdate": Limit(1000, 1.0), "export/data.json": Limit(1000, 1.0)}
    if limits_file:
        limits = IterableUsers.LIMITS
    shared = SharedRateLimits(limits_file or server.state.path.parent / "limits.sqlite", "test", limits)
    return IterableUsers(config, sync, key, shared)


def row(ident, **values):
    return PlannedRow(ident, "added", "h", ident, {"score": values.get("score"), "plan": values.get("plan")})


def test_values_in_iterable_formats():
    assert iterable_value(datetime(2026, 1, 5, 6, 7, 8)) == "2026-01-05 06:07:08 +00:00"
    assert iterable_value(datetime(2026, 1, 5, 8, 0, tzinfo=timezone(timedelta(hours=2)))) == "2026-01-05 06:00:00 +00:00"
    assert iterable_value(date(2026, 1, 5)) == "2026-01-05"
    assert iterable_value(Decimal("12.50")) == 12.5 and iterable_value(Decimal("3.00")) == 3
    assert iterable_value(float("nan")) is None


def test_nulls_are_omitted_or_cleared_per_mapping(server):
    assert destination(server).user(row("a@x.io", score=1))["dataFields"] == {"score": 1}
    assert destination(server, nulls="clear").user(row("a@x.io", score=1))["dataFields"] == {"score": 1, "plan": None}


def test_existing_users_come_from_one_export_of_identifiers(server):
    dest = destination(server)
    mark = server.state.last_request_id()
    assert sorted(dest.existing(None)[dest.lookup_scope].to_pylist()) == ["known@x.io", "other@x.io"]
    [req] = server.state.requests(since_id=mark)
    assert req["endpoint"] == "export/data.json"
    assert destination(server, mode="upsert").lookup_scope is None  # upsert needs no look-up


def test_one_export_answers_for_emails_and_user_ids_alike(server):
    server.state.upsert_users("p", [{"email": "NoId@x.io", "dataFields": {}}])
    dest = destination(server)
    mark = server.state.last_request_id()
    found = dest.existing(None)
    assert len(server.state.requests(since_id=mark)) == 1  # one export for both kinds
    assert set(found) == {dest.lookup_scopes["email"], dest.lookup_scopes["userId"]}
    assert sorted(found[dest.lookup_scopes["email"]].to_pylist()) == ["known@x.io", "noid@x.io", "other@x.io"]
    assert sorted(found[dest.lookup_scopes["userId"]].to_pylist()) == ["u1", "u2"]  # a user without one: left out


def test_an_export_of_changes_returns_only_users_updated_since(server):
    dest = destination(server)
    later = time.time() + 1000
    assert dest.existing(later)[dest.lookup_scope].to_pylist() == []
    server.state.upsert_users("p", [{"email": "New@x.io", "dataFields": {}}], now=later + 5)
    assert dest.existing(later)[dest.lookup_scope].to_pylist() == ["new@x.io"]
    assert "test-key" not in dest.lookup_scope and dest.lookup_scope.endswith(":email")


def test_send_maps_failed_updates_to_one_outcome_per_row(server):
    dest = destination(server)
    [batch] = dest.batches([row("known@x.io", score=7), row("OTHER@x.io", score="seven"), row("ghost@x.io", score=1)])
    result = dest.send(batch)
    assert [r.key for r in result.synced] == ["known@x.io"]
    outcome = {r.row.key: r for r in result.rejected}
    assert outcome["ghost@x.io"].message == "No record was found with lookup for email:ghost@x.io"
    assert outcome["OTHER@x.io"].code == "RequestFieldsTypesMismatched"  # score was a number in Iterable
    assert server.state.get_user("p", email="known@x.io")["dataFields"]["score"] == 7
    assert server.state.get_user("p", email="ghost@x.io") is None  # update-only created nobody


def test_refusals_carry_the_messages_users_know(server):
    dest = destination(server)
    assert dest.refusal("not_found", row("ghost@x.io")).message == "No record was found with lookup for email:ghost@x.io"
    assert dest.refusal("invalid", row("a@@x")).code == "InvalidEmailAddressError"
    assert dest.refusal("missing", PlannedRow("k", "added", "h", None, {})).code == "MissingIdentifier"
    assert dest.identifier_rule().valid_pattern and dest.identifier_rule().label == "email"


def test_requests_stay_within_1000_users_and_4_mb(server):
    dest = destination(server)
    small = [row(f"p{i}@x.io", score=i) for i in range(2500)]
    assert [len(b.rows) for b in dest.batches(small)] == [1000, 1000, 500]
    big = [row(f"p{i}@x.io", plan="x" * 10_000) for i in range(900)]
    batches = dest.batches(big)
    assert len(batches) >= 3
    assert all(len(dest.body(b)) <= 4 * 1024 * 1024 for b in batches)
    # 999 users whose parts, with one byte each for a separator, fill 4 MB less 1 KB exactly: with their real
    # ", " separators and the envelope, the body would be 6 bytes over.
    rows = [row(f"p{i:03d}@x.io", plan="x" * 4000) for i in range(998)]
    used = sum(len(json.dumps(dest.user(r))) + 1 for r in rows)
    last = row("p998@x.io", plan="")
    missing = 4 * 1024 * 1024 - 1024 - used - (len(json.dumps(dest.user(last))) + 1)
    rows += [row("p998@x.io", plan="x" * missing), row("p999@x.io", plan="x" * 4000)]
    assert all(len(dest.body(b)) <= 4 * 1024 * 1024 for b in dest.batches(rows))


def test_a_bad_key_is_fatal_with_a_hint_and_no_key_in_the_message(server):
    with pytest.raises(DestinationError) as err:
        dest = destination(server, key="wrong-key")
        dest.send(dest.batches([row("known@x.io", score=1)])[0])
    message = str(err.value)
    assert "HTTP 401 BadApiKey" in message and "destinations.iterable.api_key (env:K)" in message
    assert "wrong-key" not in message


def test_rate_limit_answers_are_transient_with_retry_after(tmp_path):
    # The sandbox's clock stands still: its sixth request falls in the same second however busy the machine is.
    with IterableSandbox(tmp_path / "still.sqlite", port=0, clock=ManualClock()) as still:
        still.state.add_project("p", KEY)
        dest = destination(still)
        with pytest.raises(TransientError) as err:
            for _ in range(6):  # no client-side limiter here: bulkUpdate allows 5 per second
                dest.send(dest.batches([row("known@x.io", score=1)])[0])
    assert err.value.code == "RateLimitExceeded" and err.value.retry_after >= 1


def test_a_run_of_requests_keeps_under_5_per_second_without_a_429(server):
    from sync_core.executor import Executor
    dest = destination(server, mode="upsert", limits_file=server.state.path.parent / "real-limits.sqlite")
    mark = server.state.last_request_id()
    results = []
    Executor(dest, concurrency=3).deliver([dest.batches([row(f"p{b}-{i}@x.io", score=i) for i in range(5)])[0]
                                           for b in range(12)], results.append)
    log = server.state.requests(endpoint="users/bulkUpdate", since_id=mark)
    assert [r["status"] for r in log] == [200] * 12 and sum(len(r.synced) for r in results) == 60
    times = [r["at"] for r in log]
    busiest = max(sum(1 for t in times if start <= t < start + 1) for start in times)
    assert busiest <= 5, f"{busiest} requests in one second"


def test_an_answer_whose_counts_do_not_add_up_marks_no_row_synced(server):
    dest = destination(server)
    rows = [row("a@x.io"), row("b@x.io"), row("c@x.io")]
    # Three rows sent, nothing listed as failed, yet only two successes: which one failed is unknown.
    result = dest._outcomes(rows, {"successCount": 2, "failCount": 1, "failedUpdates": {}})
    assert result.synced == []
    assert {r.code for r in result.rejected} == {"UnexplainedFailure"}
    assert {r.default_class for r in result.rejected} == {"transient"}  # sent again by the next run


def test_an_answer_without_a_success_count_is_malformed_and_marks_no_row_synced(server):
    dest = destination(server)
    with pytest.raises(TransientError) as err:  # retried by the executor, then left failed: never "synced"
        dest._outcomes([row("a@x.io"), row("b@x.io")], {"failedUpdates": {}})
    assert err.value.code == "MalformedResponse"


def test_two_keys_naming_one_user_share_its_outcome(server):
    dest = destination(server)
    [batch] = dest.batches([row("Ghost@x.io", score=1), row("ghost@x.io", score=2), row("known@x.io", score=3)])
    result = dest.send(batch)
    assert [r.key for r in result.synced] == ["known@x.io"]
    assert sorted(r.row.key for r in result.rejected) == ["Ghost@x.io", "ghost@x.io"]
    assert {r.message for r in result.rejected} == {"No record was found with lookup for email:Ghost@x.io",
                                                    "No record was found with lookup for email:ghost@x.io"}
