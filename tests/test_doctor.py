"""`sync-core doctor`: every source and destination checked against real parts (the demo's DuckDB warehouse, the
Iterable sandbox on loopback, the Snowflake emulator over the real connector), one line per check, and an exit
code cron and CI can use."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from small_workspace import small_workspace
from sync_core.demo.snowflake_emulator import EXPIRED_PASSWORD, snowflake_emulator
from sync_core.clock import ManualClock
from sync_core.destinations.iterable.users import IterableUsers
from sync_core.destinations.opening import RATE_LIMITS_FILE
from sync_core.doctor import diagnose
from sync_core.ratelimit import SharedRateLimits, credential_digest

PASSWORD_VAR = "DOCTOR_TEST_PASSWORD"
DAY = 86400


def doctor(root, *args, env=None):
    done = subprocess.run([sys.executable, "-m", "sync_core.cli", "-w", str(root), "doctor", *args],
                          capture_output=True, text=True, timeout=180, env={**os.environ, **(env or {})})
    assert not done.stderr.strip() or "Traceback" not in done.stderr, done.stderr
    return done


def lines(report) -> dict[tuple[str, str], dict]:
    return {(c["target"], c["check"]): c for c in report["checks"]}


# -- DuckDB and the Iterable sandbox -------------------------------------------------------------------------------

def test_a_healthy_demo_workspace_passes_and_doctor_changes_nothing(demo):
    users_before = demo.users()
    done = doctor(demo.root, "--json")
    assert done.returncode == 0, done.stdout
    report = json.loads(done.stdout)
    assert report["ok"] and report["failed"] == 0
    checks = lines(report)
    assert {k: c["status"] for k, c in checks.items()} == {
        ("source warehouse", "reachable"): "ok",
        ("source warehouse", "model contacts"): "ok",
        ("source warehouse", "model first_namespace"): "ok",
        ("source warehouse", "model customers_with_namespace"): "ok",
        ("source warehouse", "sync iterable-production columns"): "ok",
        ("source warehouse", "sync iterable-first-namespace columns"): "ok",
        ("source warehouse", "sync iterable-first-namespace-events columns"): "ok",
        ("source warehouse", "sync iterable-customers-list columns"): "ok",
        ("destination iterable", "rate limit"): "ok",
        ("destination iterable", "reachable"): "ok",
        ("destination iterable", "authenticated"): "ok",
        ("destination iterable", "scope"): "ok",
        ("destination iterable", "sync iterable-customers-list"): "ok"}
    # the demo's syncs are update-only, one sends events: the key's export and event tracking are probed too
    assert "track events and export users" in checks[("destination iterable", "scope")]["found"]
    assert "'Customers with a namespace'" in checks[("destination iterable", "sync iterable-customers-list")]["found"]
    assert demo.users() == users_before

    text = doctor(demo.root)
    assert text.returncode == 0 and "All 13 checks passed." in text.stdout
    assert re.search(r"^ok\s+destination iterable\s+authenticated\s+the API key is accepted", text.stdout, re.M)


def test_a_bad_iterable_key_fails_its_line_with_the_fix_and_never_prints_the_key(demo):
    secrets = demo.root / ".streamlit" / "secrets.toml"
    secrets.write_text(secrets.read_text().replace('iterable_api_key = "', 'iterable_api_key = "revoked-'))
    key = re.search(r'iterable_api_key = "([^"]+)"', secrets.read_text())[1]
    done = doctor(demo.root)
    assert done.returncode == 1
    assert re.search(r"^fail\s+destination iterable\s+authenticated\s+answered HTTP 401 BadApiKey", done.stdout, re.M)
    assert ("next: Check the API key referenced by destinations.iterable.api_key (secrets:sandbox.iterable_api_key)"
            in done.stdout)
    assert "1 check(s) failed (destination iterable authenticated)." in done.stdout
    assert key not in done.stdout + done.stderr
    report = json.loads(doctor(demo.root, "--json").stdout)
    assert not report["ok"] and lines(report)[("source warehouse", "model contacts")]["status"] == "ok"


def test_a_list_sync_naming_a_list_that_does_not_exist_fails_its_line_naming_the_setting(demo):
    demo.edit_workspace('list_name = "Customers with a namespace"', 'list_name = "Customers, renamed"')
    done = doctor(demo.root)
    assert done.returncode == 1
    assert re.search(r"^fail\s+destination iterable\s+sync iterable-customers-list\s+answered UnknownList: "
                     r"list_name = 'Customers, renamed' of syncs.iterable-customers-list names no list", done.stdout,
                     re.M), done.stdout
    assert "1 check(s) failed (destination iterable sync iterable-customers-list)." in done.stdout


def test_a_sandbox_that_is_not_running_is_named_with_how_to_start_it(demo):
    demo.server.stop()
    done = doctor(demo.root, "--json")
    assert done.returncode == 1
    reachable = lines(json.loads(done.stdout))[("destination iterable", "reachable")]
    assert reachable["status"] == "fail" and "nothing accepts connections" in reachable["found"]
    assert f"sync-core -w {demo.root} sandbox" in reachable["next_step"]


def test_a_model_the_warehouse_cannot_run_fails_its_line_naming_the_model(demo):
    demo.edit_workspace("FROM marketing_contacts c", "FROM marketing_contactz c")
    done = doctor(demo.root, "--json")
    assert done.returncode == 1
    checks = lines(json.loads(done.stdout))
    model = checks[("source warehouse", "model contacts")]
    assert model["status"] == "fail" and "model 'contacts'" in model["found"] and "marketing_contactz" in model["found"]
    assert "models.contacts" in model["next_step"]
    assert checks[("source warehouse", "model first_namespace")]["status"] == "ok"


def test_a_mapped_column_the_model_no_longer_returns_fails_its_syncs_line_naming_the_key(demo):
    """A column renamed in the model's SQL: every run of the sync would stop at once, so doctor is not green."""
    demo.edit_workspace("c.first_name,", "c.first_name AS given_name,")
    done = doctor(demo.root, "--json")
    assert done.returncode == 1
    checks = lines(json.loads(done.stdout))
    assert checks[("source warehouse", "model contacts")]["status"] == "ok"  # the model itself reads
    broken = checks[("source warehouse", "sync iterable-production columns")]
    assert broken["status"] == "fail" and "syncs.iterable-production.mappings[0].column" in broken["found"]
    assert "column 'first_name' is not returned by model 'contacts'" in broken["found"]


def test_rate_limit_headroom_is_read_from_the_shared_limiter(demo):
    """Requests counted by another process of the workspace (a run sending now) leave no headroom: a warning,
    not a failure."""
    clock = ManualClock(datetime.now(timezone.utc).timestamp())
    workspace = demo.workspace
    config = workspace.destinations["iterable"]
    key = config.api_key.resolve(workspace.root)
    sending = SharedRateLimits(workspace.state_dir / RATE_LIMITS_FILE, credential_digest(config.base_url, key),
                               IterableUsers.LIMITS, clock=clock)
    for _ in range(5):
        sending.acquire("users/bulkUpdate")
    report = diagnose(workspace, clock=clock)
    [headroom] = [c for c in report.checks if c.check == "rate limit"]
    assert headroom.status == "warn" and "no headroom now on users/bulkUpdate" in headroom.found
    assert "users/bulkUpdate 5 of 5 per 1 s in use" in headroom.found and headroom.next_step
    assert not report.failed


# -- Snowflake (the emulator) ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def emulator():
    with snowflake_emulator() as em:
        yield em


@pytest.fixture
def snowflake_workspace(emulator, tmp_path, monkeypatch):
    """A small workspace whose source is the emulator (user SYNC_USER, password in $DOCTOR_TEST_PASSWORD)."""
    db = emulator.database(["CREATE TABLE PEOPLE (EMAIL VARCHAR, SCORE NUMBER(38,0))",
                            "INSERT INTO PEOPLE VALUES ('a@x.io', 1), ('b@x.io', 2)"])
    monkeypatch.setenv(PASSWORD_VAR, "first-password-1")
    with small_workspace(tmp_path, monkeypatch, table="email VARCHAR, score BIGINT", rows=[], mode="upsert",
                         mappings=[("score", "score")]) as s:
        toml = s.root / "workspace.toml"
        line = emulator.source_line(db, password_env=PASSWORD_VAR, user="SYNC_USER")
        toml.write_text(re.sub(r"^sources\.wh = .*$", line, toml.read_text(), flags=re.M))
        yield s


def test_snowflake_checks_and_the_password_clock_from_first_seen(snowflake_workspace, monkeypatch):
    """The emulator does not answer DESC USER (fakesnow cannot parse it), so PASSWORD_LAST_SET_TIME cannot be
    shown read from Snowflake here: the line says so and counts from when the workspace first saw the secret.
    Time is moved by the clock, never waited for."""
    start = datetime(2026, 3, 1, tzinfo=timezone.utc).timestamp()
    clock = ManualClock(start)
    first = diagnose(snowflake_workspace.workspace, clock=clock)
    by_check = {(c.target, c.check): c for c in first.checks}
    assert [by_check[("source wh", k)].status for k in ("reachable", "authenticated", "model people",
                                                        "password age")] == ["ok"] * 4
    age = by_check[("source wh", "password age")]
    assert "changed 0 days ago: 90 days left of 90" in age.found
    assert "Snowflake did not say when it was set: DESC USER is not answered" in age.found

    clock.advance(80 * DAY)
    age = next(c for c in diagnose(snowflake_workspace.workspace, clock=clock).checks if c.check == "password age")
    assert age.status == "warn"
    assert "The Snowflake password of user SYNC_USER (source 'wh') expires in 10 day(s): changed 80 days ago" in age.found
    assert "update the secret `env:DOCTOR_TEST_PASSWORD`" in age.next_step

    clock.advance(11 * DAY)
    report = diagnose(snowflake_workspace.workspace, clock=clock)
    age = next(c for c in report.checks if c.check == "password age")
    assert age.status == "fail" and "has expired: changed 91 days ago, 1 day(s) past its 90-day limit" in age.found
    assert age in report.failed

    monkeypatch.setenv(PASSWORD_VAR, "second-password-2")  # a new secret value restarts the clock
    age = next(c for c in diagnose(snowflake_workspace.workspace, clock=clock).checks if c.check == "password age")
    assert age.status == "ok" and "changed 0 days ago" in age.found


def test_an_expired_password_makes_doctor_exit_non_zero_naming_it(snowflake_workspace, emulator):
    with emulator.refuse_logins(*EXPIRED_PASSWORD):
        done = doctor(snowflake_workspace.root, env={PASSWORD_VAR: "first-password-1"})
    assert done.returncode == 1
    assert re.search(r"^fail\s+source wh\s+authenticated\s+The Snowflake password of user SYNC_USER has expired "
                     r"\(Snowflake changes it every 90 days\)\.", done.stdout, re.M), done.stdout
    assert ("next: Log in as SYNC_USER in Snowsight, set a new password, then update the secret "
            "`env:DOCTOR_TEST_PASSWORD`.") in done.stdout
    assert re.search(r"^ok\s+source wh\s+reachable", done.stdout, re.M)
    assert "first-password-1" not in done.stdout + done.stderr
    assert "check(s) failed (source wh authenticated)" in done.stdout


def test_an_unset_password_secret_fails_the_source_naming_the_key(snowflake_workspace, monkeypatch):
    monkeypatch.delenv(PASSWORD_VAR)
    report = diagnose(snowflake_workspace.workspace)
    [line] = [c for c in report.checks if c.target == "source wh"]
    assert line.status == "fail" and "sources.wh.password" in line.found and PASSWORD_VAR in line.found


def test_the_credential_first_seen_is_recorded_by_a_run(snowflake_workspace):
    """A run starts the clock of the password it logs in with: doctor, later, counts from the run."""
    run_at = datetime(2026, 5, 1, tzinfo=timezone.utc)
    record = snowflake_workspace.run(dated=ManualClock(run_at.timestamp()))
    assert record.status == "healthy"
    later = ManualClock((run_at + timedelta(days=85)).timestamp())
    age = next(c for c in diagnose(snowflake_workspace.workspace, clock=later).checks if c.check == "password age")
    assert age.status == "warn" and "expires in 5 day(s): changed 85 days ago" in age.found


def test_a_destination_type_that_declares_no_checks_is_a_warning_not_a_pass(demo, monkeypatch):
    """Doctor runs the checks a destination type names in its catalog entry; a type that names none (a newcomer's
    new destination) is said to be unchecked, never reported healthy."""
    from dataclasses import replace

    from sync_core.destinations.catalog import DESTINATION_TYPES
    monkeypatch.setitem(DESTINATION_TYPES, "iterable", replace(DESTINATION_TYPES["iterable"], health_check=None))
    checks = {(c.target, c.check): c for c in diagnose(demo.workspace).checks}
    unchecked = checks[("destination iterable", "checked")]
    assert unchecked.status == "warn" and "no checks for iterable destinations" in unchecked.found
    assert ("destination iterable", "authenticated") not in checks
