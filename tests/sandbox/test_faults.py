"""Fault injection in the Iterable sandbox, over real HTTP, and the request-log helpers."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from sync_core import cli
from sync_core.sandbox import IterableApi, IterableSandbox, IterableState
from sync_core.sandbox.core import FaultSpec
from sync_core.sandbox.iterable.faults import ENDPOINTS, FAULTS
from sync_core.sandbox.serve import main

from sandbox_fixtures import API_KEY, PROJECT, START, clock, http, server, state_path  # noqa: F401


def bulk_update(server, http, users, **kwargs) -> requests.Response:
    return http.post(f"{server.url}/api/users/bulkUpdate", json={"users": users}, **kwargs)


def user(email: str) -> dict:
    return {"email": email, "dataFields": {"plan": "pro"}}


def get_by_email(server, http, email="nobody@example.com") -> requests.Response:
    return http.get(f"{server.url}/api/users/getByEmail", params={"email": email})


def logged_faults(server) -> list[tuple]:
    return [(r["status"], r["code"], r["fault"]) for r in server.state.requests()]


def hit_pattern(server, http, requests_count=40) -> list[bool]:
    """For each of a run of getByEmail requests, whether a fault answered it."""
    return [get_by_email(server, http).status_code != 200 for _ in range(requests_count)]


# --- each kind ------------------------------------------------------------------------


def test_rate_limit_with_json_body_and_retry_after(server, http):
    server.state.add_fault("users/bulkUpdate", "rate_limit", retry_after=2, times=1)

    limited = bulk_update(server, http, [user("a@example.com")])
    passed = bulk_update(server, http, [user("a@example.com")])

    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    assert limited.json() == {"msg": "Rate limit exceeded", "code": "RateLimitExceeded",
                              "params": None}
    assert passed.status_code == 200
    assert logged_faults(server) == [(429, "RateLimitExceeded", "rate_limit"),
                                     (200, "Success", None)]
    assert server.state.requests()[0]["stored"] is None  # refused: nothing stored


def test_rate_limit_with_text_body_and_no_retry_after(server, http):
    server.state.add_fault("*", "rate_limit", body="text")

    limited = get_by_email(server, http)

    assert limited.status_code == 429 and "Retry-After" not in limited.headers
    assert limited.headers["Content-Type"] == "text/plain"
    assert limited.text == "Rate limit exceeded"


def test_server_error_answers_its_status_then_stops_after_times(server, http):
    server.state.add_fault("users/bulkUpdate", "server_error", status=503, times=2)

    statuses = [bulk_update(server, http, [user("a@example.com")]).status_code for _ in range(3)]

    assert statuses == [503, 503, 200]
    assert server.state.requests()[0]["code"] == "GenericError"
    assert [r["stored"] for r in server.state.requests()] == [None, None, ["a@example.com"]]


def test_faulted_requests_take_no_rate_limit_slot(server, http):
    server.state.add_fault("users/bulkUpdate", "server_error", times=5)

    statuses = [bulk_update(server, http, []).status_code for _ in range(10)]

    assert statuses == [500] * 5 + [200] * 5  # all in one second of the manual clock


def test_slow_outlasts_the_client_timeout_and_still_stores(server, http):
    server.state.add_fault("users/bulkUpdate", "slow", delay=0.4)

    with pytest.raises(requests.Timeout):
        bulk_update(server, http, [user("late@example.com")], timeout=0.1)

    assert _eventually(lambda: server.state.requests()[0]["status"])  # answered, to nobody
    assert server.state.get_user(PROJECT, email="late@example.com") is not None
    [logged] = server.state.requests()
    assert (logged["status"], logged["fault"], logged["stored"]) == (
        200, "slow", ["late@example.com"])


def test_drop_closes_the_connection_and_stores_nothing(server, http):
    server.state.add_fault("users/bulkUpdate", "drop", times=1)

    with pytest.raises(requests.ConnectionError):
        bulk_update(server, http, [user("a@example.com")])
    after = bulk_update(server, http, [user("b@example.com")])  # the session reconnects

    assert after.status_code == 200
    assert server.state.get_user(PROJECT, email="a@example.com") is None
    assert logged_faults(server) == [(None, None, "drop"), (200, "Success", None)]


def test_malformed_stores_the_data_but_answers_invalid_json(server, http):
    server.state.add_fault("users/bulkUpdate", "malformed")

    response = bulk_update(server, http, [user("a@example.com")])

    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    assert server.state.get_user(PROJECT, email="a@example.com") is not None
    assert server.state.requests()[0]["fault"] == "malformed"
    assert server.state.stored_identifiers(PROJECT) == {"a@example.com"}


def test_malformed_export_ends_in_an_incomplete_line(server, http):
    server.state.upsert_users(PROJECT, [{"email": f"u{i}@example.com"} for i in range(4)])
    server.state.add_fault("export/data.json", "malformed")

    response = http.get(f"{server.url}/api/export/data.json",
                        params={"dataTypeName": "user", "range": "All"})

    *complete, last = response.text.splitlines()
    assert all(json.loads(line) for line in complete)
    with pytest.raises(ValueError):
        json.loads(last)


def test_bad_row_refuses_only_whole_batches_naming_the_identifier(server, http):
    server.state.add_fault("users/bulkUpdate", "bad_row", identifier="Bad@Example.com")
    server.state.add_fault("users/bulkUpdate", "bad_row", identifier="u-bad")

    by_email = bulk_update(server, http, [user("ok@example.com"), user("bad@example.com")])
    by_user_id = bulk_update(server, http, [{"userId": "u-bad", "dataFields": {}}])
    clean = bulk_update(server, http, [user("ok@example.com"), user("fine@example.com")])

    assert by_email.status_code == 400
    assert by_email.json()["code"] == "BadParams" and by_email.json()["params"] is None
    assert by_email.json()["msg"].startswith("Invalid data for user Bad@Example.com: ")
    assert by_user_id.json()["msg"].startswith("Invalid data for user u-bad: ")
    assert clean.json()["successCount"] == 2
    assert server.state.stored_identifiers(PROJECT) == {"ok@example.com", "fine@example.com"}
    # a batch without the identifier does not count as one of the fault's requests
    assert [fault["seen"] for fault in server.state.faults()] == [1, 1]


def test_unauthorized_after_some_requests_is_a_revoked_key(server, http):
    server.state.add_fault("*", "unauthorized", after=2)

    statuses = [get_by_email(server, http).status_code for _ in range(4)]

    assert statuses == [200, 200, 401, 401]
    assert get_by_email(server, http).json() == {"msg": "Invalid API key", "code": "BadApiKey",
                                                 "params": None}


@pytest.mark.parametrize("drop", [False, True])
def test_hold_blocks_until_released(server, http, drop):
    server.state.add_fault("users/bulkUpdate", "hold", after=1)
    assert bulk_update(server, http, [user("first@example.com")]).status_code == 200
    outcome = {}

    def send() -> None:
        try:
            outcome["status"] = bulk_update(server, http, [user("held@example.com")]).status_code
        except requests.ConnectionError as error:
            outcome["error"] = error

    client = threading.Thread(target=send)
    client.start()
    assert server.wait_for_held(1, timeout=5)
    assert server.state.get_user(PROJECT, email="held@example.com") is None  # not processed yet
    assert server.release_held(drop=drop) == 1
    client.join(5)

    held = server.state.requests()[-1]
    if drop:
        assert "error" in outcome and (held["status"], held["fault"]) == (None, "hold")
        assert server.state.stored_identifiers(PROJECT) == {"first@example.com"}
    else:
        assert outcome == {"status": 200} and (held["status"], held["fault"]) == (200, "hold")
        assert server.state.get_user(PROJECT, email="held@example.com") is not None


def test_wait_for_held_times_out_when_nothing_is_held(server):
    assert server.wait_for_held(1, timeout=0.05) is False
    assert server.release_held() == 0


# --- selection ------------------------------------------------------------------------


def test_after_and_times_select_a_window_of_matching_requests(server, http):
    server.state.add_fault("users/getByEmail", "server_error", after=2, times=3)

    pattern = hit_pattern(server, http, 7)

    assert pattern == [False, False, True, True, True, False, False]
    [fault] = server.state.faults()
    assert (fault["seen"], fault["hits"]) == (5, 3)  # an exhausted fault stops counting


def test_faults_apply_only_to_their_endpoint(server, http):
    server.state.add_fault("users/bulkUpdate", "server_error")

    assert get_by_email(server, http).status_code == 200
    assert bulk_update(server, http, []).status_code == 500


def test_the_oldest_fault_that_selects_a_request_answers_it(server, http):
    server.state.add_fault("*", "server_error", status=502, times=1)
    server.state.add_fault("*", "server_error", status=503, times=1)

    statuses = [get_by_email(server, http).status_code for _ in range(3)]

    assert statuses == [502, 503, 200]


def test_probability_hits_are_the_same_in_every_fresh_sandbox(tmp_path, clock, http):
    def pattern(name: str, seed: int) -> list[bool]:
        with IterableSandbox(tmp_path / name, clock=clock) as server:
            server.state.add_project(PROJECT, API_KEY)
            server.state.add_fault("*", "rate_limit", probability=0.3, seed=seed)
            hits = hit_pattern(server, http)
        http.close()  # no keep-alive connection to a stopped server
        return hits

    first, rerun, other_seed = pattern("a.db", 7), pattern("b.db", 7), pattern("c.db", 8)

    assert first == rerun
    assert first != other_seed
    assert 4 <= sum(first) <= 20  # about 30% of 40


def test_probability_with_times_stops_after_that_many_hits(server, http):
    server.state.add_fault("*", "server_error", probability=0.5, seed=1, times=3)

    assert sum(hit_pattern(server, http)) == 3


def test_faults_from_another_process_apply_to_a_running_server(server, http, state_path):
    other = IterableState(state_path)  # as a test process or `sync-core sandbox` would
    try:
        other.add_fault("*", "server_error")
        faulted = get_by_email(server, http).status_code
        other.clear_faults()
        cleared = get_by_email(server, http).status_code
    finally:
        other.close()

    assert (faulted, cleared) == (500, 200)
    assert server.state.faults() == []


def test_faults_lists_settings_and_counters(server, http):
    fault_id = server.state.add_fault("users/getByEmail", "rate_limit", times=2, seed=3)
    get_by_email(server, http)

    assert server.state.faults() == [{
        "id": fault_id, "endpoint": "users/getByEmail", "kind": "rate_limit", "after": 0,
        "times": 2, "probability": 1.0, "seed": 3, "params": {"body": "json"},
        "seen": 1, "hits": 1,
    }]


@pytest.mark.parametrize("endpoint, kind, options, message", [
    ("users/bulkUpdate", "explode", {}, "unknown fault kind 'explode'"),
    ("users/nothing", "drop", {}, "unknown endpoint 'users/nothing'"),
    ("*", "server_error", {"status": 504}, "status must be 500, 502 or 503"),
    ("*", "rate_limit", {"body": "xml"}, 'body must be "json" or "text"'),
    ("*", "rate_limit", {"retry_after": -1}, "retry_after must be an integer >= 0"),
    ("*", "slow", {}, "slow needs delay"),
    ("*", "drop", {"delay": 1}, "drop takes no parameters; got delay"),
    ("*", "bad_row", {"identifier": "a@example.com"}, "bad_row faults apply to users/bulkUpdate"),
    ("*", "drop", {"probability": 1.5}, "probability must be a number from 0 to 1"),
    ("*", "drop", {"times": 0}, "times must be an integer >= 1"),
    ("*", "drop", {"after": -1}, "after must be an integer >= 0"),
])
def test_add_fault_refuses_bad_kinds_and_params(server, endpoint, kind, options, message):
    with pytest.raises(ValueError, match=message):
        server.state.add_fault(endpoint, kind, **options)
    assert server.state.faults() == []


def test_fault_endpoints_are_the_routes_endpoints():
    assert ENDPOINTS == {route.endpoint for route in IterableApi.ROUTES}


# --- log helpers ----------------------------------------------------------------------


def test_stored_identifiers_are_the_successful_updates_only(server, http):
    server.state.upsert_users(PROJECT, [{"email": "typed@example.com", "dataFields": {"n": 1}}])
    bulk_update(server, http, [
        user("New@Example.com"),
        {"userId": "u-1", "dataFields": {}},
        {"email": "not-an-email", "dataFields": {}},
        {"email": "typed@example.com", "dataFields": {"n": "one"}},  # type mismatch
    ])
    mark = server.state.last_request_id()
    server.state.add_fault("users/bulkUpdate", "server_error", times=1)
    bulk_update(server, http, [user("refused@example.com")])
    bulk_update(server, http, [user("later@example.com")])

    assert server.state.stored_identifiers(PROJECT) == {
        "new@example.com", "u-1", "later@example.com"}
    assert server.state.stored_identifiers(PROJECT, since_id=mark) == {"later@example.com"}
    assert server.state.stored_identifiers("other-project") == set()


def test_busiest_second_counts_answered_requests_in_a_sliding_window(server, http, clock):
    for gap in (0, 0.3, 0.3, 0.3, 0.3, 0.5, 2.0):  # arrivals at 0, .3, .6, .9, 1.2, 1.7, 3.7
        clock.advance(gap)
        get_by_email(server, http)
    server.state.add_fault("*", "drop")
    with pytest.raises(requests.ConnectionError):
        get_by_email(server, http)  # at 3.7, but never answered
    mark = server.state.requests()[4]["id"]

    assert server.state.busiest_second(PROJECT) == 4  # 0 .. 0.9, or .3 .. 1.2
    assert server.state.busiest_second(PROJECT, endpoint="users/getByEmail") == 4
    assert server.state.busiest_second(PROJECT, endpoint="users/bulkUpdate") == 0
    assert server.state.busiest_second(PROJECT, since_id=mark) == 1


def test_busiest_second_counts_429s_too(server, http):
    statuses = [bulk_update(server, http, []).status_code for _ in range(7)]

    assert statuses.count(429) == 2
    assert server.state.busiest_second(PROJECT, endpoint="users/bulkUpdate") == 7


# --- CLI ------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, expected", [
    ("users/bulkUpdate:server_error:status=503,times=2",
     FaultSpec("users/bulkUpdate", "server_error", {"status": 503, "times": 2})),
    ("*:rate_limit:retry_after=2,body=text,probability=0.1,seed=7",
     FaultSpec("*", "rate_limit", {"retry_after": 2, "body": "text", "probability": 0.1,
                                   "seed": 7})),
    ("export/data.json:drop", FaultSpec("export/data.json", "drop", {})),
    ("users/bulkUpdate:bad_row:identifier=a@example.com,after=1",
     FaultSpec("users/bulkUpdate", "bad_row", {"identifier": "a@example.com", "after": 1})),
    ("*:slow:delay=0.5", FaultSpec("*", "slow", {"delay": 0.5})),
])
def test_fault_spec_parses(spec, expected):
    assert FAULTS.parse_spec(spec) == expected


@pytest.mark.parametrize("spec, message", [
    ("drop", "is not ENDPOINT:KIND"),
    (":drop", "is not ENDPOINT:KIND"),
    ("*:explode", "unknown fault kind 'explode'"),
    ("nowhere:drop", "unknown endpoint 'nowhere'"),
    ("*:server_error:status", "'status' in fault spec"),
    ("*:server_error:colour=red", "'colour=red' in fault spec"),
    ("*:server_error:status=abc", "status must be 500, 502 or 503, not 'abc'"),
    ("*:server_error:status=504", "status must be 500, 502 or 503, not 504"),
    ("*:slow", "slow needs delay"),
    ("*:drop:times=x", "times must be an integer >= 1"),
])
def test_fault_spec_refuses_bad_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        FAULTS.parse_spec(spec)


def test_sandbox_main_adds_and_clears_faults_without_serving(state_path, capsys):
    main(["--state", str(state_path), "--no-serve", "--fault", "*:drop:times=1"])
    main(["--state", str(state_path), "--no-serve", "--clear-faults",
          "--fault", "users/bulkUpdate:server_error:status=502"])

    state = IterableState(state_path)
    try:
        faults = [(f["endpoint"], f["kind"], f["params"]) for f in state.faults()]
    finally:
        state.close()
    assert faults == [("users/bulkUpdate", "server_error", {"status": 502})]
    assert "users/bulkUpdate server_error (status=502" in capsys.readouterr().out


def test_sandbox_main_rejects_a_bad_fault_spec(state_path, capsys):
    with pytest.raises(SystemExit):
        main(["--state", str(state_path), "--no-serve", "--fault", "*:explode"])
    assert "unknown fault kind 'explode'" in capsys.readouterr().err


def test_sync_core_sandbox_passes_fault_options_through(tmp_path, monkeypatch):
    (tmp_path / "workspace.toml").write_text(
        '[sandbox]\nstate = "sandbox.db"\nproject = "demo"\napi_key = "env:SANDBOX_KEY"\n')
    monkeypatch.setenv("SANDBOX_KEY", API_KEY)

    code = cli.main(["-w", str(tmp_path), "sandbox", "--no-serve", "--clear-faults",
                     "--fault", "*:drop", "--fault", "users/bulkUpdate:slow:delay=2"])

    state = IterableState(tmp_path / "sandbox.db")
    try:
        assert code == 0
        assert [f["kind"] for f in state.faults()] == ["drop", "slow"]
        assert state.project_for_key(API_KEY) == PROJECT
    finally:
        state.close()


def _eventually(check, timeout: float = 3.0):
    deadline = time.monotonic() + timeout
    while not (result := check()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return result
