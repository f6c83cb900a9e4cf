"""Credential age: a Snowflake password's clock, known by a keyed fingerprint (never the secret, never a plain hash),
its settings validated by file and key, and the warning `sync-core syncs` shows (text and --json). Time is set
through the clock and recorded moments, never waited for."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from snowflake.snowpark import Row

from sync_core import ConfigError, StateStore, load_workspace
from sync_core.credential_age import (FIRST_SEEN, FROM_SNOWFLAKE, KEY_FILE, NOT_SEEN, age_of, credential_ages,
                                      password_last_set, password_login)

from workspace_toml import inline_source, iterable, model, sync, workspace

PASSWORD_VAR = "AGE_TEST_PASSWORD"
SECRET = "correct-horse-battery-staple"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def workspace_text(source_settings: str = "") -> str:
    """A Snowflake source logging in by password (plus `source_settings`, inline keys), one Iterable sync."""
    source = inline_source(type="snowflake", account="acme-prod", user="SYNC_USER", password=f"env:{PASSWORD_VAR}",
                           more=source_settings)
    return workspace(source, iterable(api_key="env:AGE_TEST_ITERABLE_KEY"), model("SELECT email, score FROM people"),
                     sync("people", mappings=[("score", "score")]))


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv(PASSWORD_VAR, SECRET)
    (tmp_path / "workspace.toml").write_text(workspace_text())
    return tmp_path


def ages_at(root, moment: datetime, *, record: bool):
    workspace = load_workspace(root)
    with StateStore(workspace.state_path) as store:
        return credential_ages(workspace, store, moment, record=record)


def test_a_password_changed_80_days_ago_warns_with_10_days_left_and_past_90_says_expired(root):
    [age] = ages_at(root, NOW - timedelta(days=80), record=True)  # first seen 80 days ago
    assert age.basis == FIRST_SEEN and age.status(NOW - timedelta(days=80)) == "ok"

    [age] = ages_at(root, NOW, record=False)
    assert (age.status(NOW), age.days_left(NOW)) == ("warn", 10)
    assert age.sentence(NOW).startswith("The Snowflake password of user SYNC_USER (source 'wh') expires in 10 "
                                        "day(s): changed 80 days ago, the limit is 90")
    assert "then update the secret `env:AGE_TEST_PASSWORD`" in age.sentence(NOW)

    later = NOW + timedelta(days=11)
    [age] = ages_at(root, later, record=False)
    assert age.status(later) == "expired" and "has expired: changed 91 days ago" in age.sentence(later)
    assert SECRET not in json.dumps(age.to_json(later))


def test_a_new_secret_value_restarts_the_clock(root, monkeypatch):
    ages_at(root, NOW - timedelta(days=60), record=True)
    monkeypatch.setenv(PASSWORD_VAR, "a-new-password-2")
    [unseen] = ages_at(root, NOW, record=False)
    assert unseen.basis == NOT_SEEN and unseen.age_days(NOW) == 0  # its clock starts at the next run
    ages_at(root, NOW, record=True)
    monkeypatch.setenv(PASSWORD_VAR, SECRET)  # the old value again is a change too
    [again] = ages_at(root, NOW + timedelta(days=1), record=False)
    assert again.basis == NOT_SEEN


def test_the_fingerprint_is_keyed_and_neither_key_nor_secret_reach_the_state_store_or_git(root):
    ages_at(root, NOW, record=True)
    workspace = load_workspace(root)
    key_file = workspace.state_dir / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert (workspace.state_dir / ".gitignore").read_text() == "*\n"  # nothing of the state folder is committed
    key = key_file.read_bytes()
    login = password_login(workspace, workspace.sources["wh"], create_key=False)
    with StateStore(workspace.state_path) as store:
        assert store.credential_seen("wh", login.fingerprint) is not None
    stored = b"".join(p.read_bytes() for p in workspace.state_dir.glob("state.sqlite*"))
    assert SECRET.encode() not in stored and key not in stored and key.hex().encode() not in stored
    plain = hashlib.sha256(SECRET.encode()).hexdigest()
    assert plain[:32] != login.fingerprint and plain[:32].encode() not in stored
    # Another workspace (another key) gives the same secret another fingerprint.
    other = root / "other"
    other.mkdir()
    (other / "workspace.toml").write_text((root / "workspace.toml").read_text())
    elsewhere = load_workspace(other)
    assert password_login(elsewhere, elsewhere.sources["wh"], create_key=True).fingerprint != login.fingerprint


def test_a_reader_writes_nothing(root):
    """`sync-core syncs` and the dashboard read: no key file, no state store made."""
    workspace = load_workspace(root)
    workspace.state_dir.mkdir()
    StateStore(workspace.state_path).close()
    with StateStore(workspace.state_path, read_only=True) as store:
        [age] = credential_ages(workspace, store, NOW)
    assert age.basis == NOT_SEEN and not (workspace.state_dir / KEY_FILE).exists()


def test_snowflakes_own_answer_is_preferred_over_first_seen(root):
    """DESC USER's PASSWORD_LAST_SET_TIME, where the role may read it. The emulator cannot answer DESC USER, so
    the session is a stand-in answering the rows Snowflake documents (property, value, default, description),
    built of Snowpark's own Row."""
    class DescUser:
        def sql(self, text):
            assert text == 'DESC USER "SYNC_USER"'
            return self

        def collect(self):
            return [Row(property="NAME", value="SYNC_USER", default="null", description="Name"),
                    Row(property="PASSWORD_LAST_SET_TIME", value="2026-03-15 08:30:00.000 -0700",
                        default="null", description="The timestamp on which the last non-null password was set")]

    changed, why = password_last_set(DescUser(), "SYNC_USER")
    assert changed == datetime(2026, 3, 15, 15, 30, tzinfo=timezone.utc) and why == "from DESC USER"
    workspace = load_workspace(root)
    login = password_login(workspace, workspace.sources["wh"], create_key=True)
    with StateStore(workspace.state_path) as store:
        age = age_of(login, store, NOW, record=True, changed_at=changed)
        assert age.basis == FROM_SNOWFLAKE and age.age_days(NOW) == 77  # 77 whole days and 20.5 hours
        assert age_of(login, store, NOW).basis == FROM_SNOWFLAKE  # kept for the readers


@pytest.mark.parametrize("extra, key, words", [
    (", password_expiry_days = 0", "sources.wh.password_expiry_days", "at least 1 day"),
    (", password_warn_days = 90", "sources.wh.password_warn_days", "less than password_expiry_days (90)"),
    (", password_expiry_days = 30, password_warn_days = -1", "sources.wh.password_warn_days", "0 or more"),
    (", password_warn_days = \"14\"", "sources.wh.password_warn_days", "must be int"),
])
def test_bad_age_settings_name_the_file_and_key(tmp_path, extra, key, words):
    (tmp_path / "workspace.toml").write_text(workspace_text(extra))
    with pytest.raises(ConfigError) as err:
        load_workspace(tmp_path)
    assert err.value.key == key and words in str(err.value) and "workspace.toml" in str(err.value)


def test_age_settings_on_a_key_pair_source_are_refused(tmp_path):
    text = workspace_text().replace(f'password = "env:{PASSWORD_VAR}"',
                                                                 'private_key_file = "k.p8", password_warn_days = 7')
    (tmp_path / "workspace.toml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_workspace(tmp_path)
    assert err.value.key == "sources.wh.password_warn_days" and "password logins only" in str(err.value)


def test_configured_days_change_when_it_warns(root):
    (root / "workspace.toml").write_text(workspace_text(
        ", password_expiry_days = 60, password_warn_days = 30"))
    ages_at(root, NOW - timedelta(days=31), record=True)
    [age] = ages_at(root, NOW, record=False)
    assert (age.status(NOW), age.days_left(NOW)) == ("warn", 29)


def syncs(root, *args):
    done = subprocess.run([sys.executable, "-m", "sync_core.cli", "-w", str(root), "syncs", *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, PASSWORD_VAR: SECRET})
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_syncs_shows_the_warning_in_text_and_json(root):
    real_now = datetime.now(timezone.utc)
    ages_at(root, real_now - timedelta(days=80), record=True)  # `syncs` reads the real time: the record is dated
    text = syncs(root)
    assert ("WARNING: The Snowflake password of user SYNC_USER (source 'wh') expires in 10 day(s): changed 80 days "
            "ago") in text
    [row] = json.loads(syncs(root, "--json"))
    age = row["password_age"]
    assert (age["status"], age["days_left"], age["age_days"], age["basis"]) == ("warn", 10, 80, "first_seen")
    assert SECRET not in text and SECRET not in json.dumps(row)


def test_syncs_says_when_the_age_cannot_be_told(root):
    done = subprocess.run([sys.executable, "-m", "sync_core.cli", "-w", str(root), "syncs", "--json"],
                          capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != PASSWORD_VAR})
    [row] = json.loads(done.stdout)
    assert row["password_age"]["status"] == "unknown"
    assert "environment variable AGE_TEST_PASSWORD is not set" in row["password_age"]["message"]
