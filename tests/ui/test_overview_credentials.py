"""The Overview (AppTest) warns of a Snowflake password about to expire, and says when one has expired: the same
sentence `sync-core syncs` and `doctor` give."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sync_core import StateStore, load_workspace
from sync_core.credential_age import credential_ages

PASSWORD_VAR = "OVERVIEW_TEST_PASSWORD"
SOURCE = f'''
[sources.snow]
type = "snowflake"
account = "acme-prod"
user = "SYNC_USER"
password = "env:{PASSWORD_VAR}"
'''


@pytest.fixture
def with_snowflake_source(demo, monkeypatch):
    """The demo workspace with a Snowflake source logging in with a password (never connected to: the Overview
    reads the password's age from the state store)."""
    monkeypatch.setenv(PASSWORD_VAR, "a-password-1")
    with open(demo.root / "workspace.toml", "a") as toml:
        toml.write(SOURCE)
    return demo


def first_seen_days_ago(root, days: int) -> None:
    workspace = load_workspace(root)
    with StateStore(workspace.state_path) as store:
        credential_ages(workspace, store, datetime.now(timezone.utc) - timedelta(days=days), record=True)


def test_the_overview_warns_ahead_of_expiry_and_says_when_it_has_expired(with_snowflake_source, open_app,
                                                                         monkeypatch):
    demo = with_snowflake_source
    first_seen_days_ago(demo.root, 80)
    at = open_app(demo.root, "pages/overview.py")
    [warning] = [w.value for w in at.main.warning if "Snowflake password" in w.value]
    assert "The Snowflake password of user SYNC_USER (source 'snow') expires in 10 day(s)" in warning
    assert "update the secret `env:OVERVIEW_TEST_PASSWORD`" in warning
    assert not any("Nothing needs action" in s.value for s in at.main.success)

    monkeypatch.setenv(PASSWORD_VAR, "a-password-2")
    first_seen_days_ago(demo.root, 95)
    at = open_app(demo.root, "pages/overview.py")
    [error] = [e.value for e in at.main.error if "Snowflake password" in e.value]
    assert "has expired: changed 95 days ago, 5 day(s) past its 90-day limit" in error
    assert "a-password" not in " ".join(e.value for e in [*at.main.error, *at.main.warning, *at.main.markdown])


def test_no_warning_for_a_password_far_from_expiry(with_snowflake_source, open_app):
    first_seen_days_ago(with_snowflake_source.root, 3)
    at = open_app(with_snowflake_source.root, "pages/overview.py")
    assert not any("Snowflake password" in m.value for m in [*at.main.warning, *at.main.error, *at.main.info])
