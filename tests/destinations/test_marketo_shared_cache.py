"""What Marketo runs of one workspace share, over the Marketo sandbox on real HTTP: the OAuth token (a second run,
in another process, makes no identity call; a token Marketo expired is renewed once) and the leads found by email
(another sync of the instance looks up only the emails not already known)."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
import time

from marketo_workspace import CLIENT_ID, CLIENT_SECRET, INSTANCE, activity_sync, marketo_workspace

from sync_core.clock import ManualClock
from sync_core.destinations.marketo.shared_cache import CACHE_FILE, LEAD_LIFETIME_SECONDS, MarketoSharedCache

IDENTITY = "identity/oauth/token"

SECOND_SYNC = "\n" + activity_sync("renewals", "planRenewed_c", [("created_at", "activityDate"),
                                                                 ("namespace", "primaryAttributeValue")])


def run_in_another_process(root, sync: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sync_core.cli", "-w", str(root), "run", sync],
                          capture_output=True, text=True, timeout=300)


def test_a_second_run_in_another_process_reuses_the_token_and_the_cache_is_owner_only(tmp_path, monkeypatch):
    with marketo_workspace(tmp_path, monkeypatch) as marketo:
        marketo.sandbox.add_leads(INSTANCE, ["ada@x.io", "bob@x.io"])
        marketo.add_people([("ada@x.io", "2026-11-30T10:00:00Z", "ns-ada", "pro")])
        assert marketo.run().status == "healthy"
        marketo.add_people([("bob@x.io", "2026-11-30T11:00:00Z", "ns-bob", "free")])

        done = run_in_another_process(marketo.root, "activities")

        assert done.returncode == 0, done.stderr
        assert len(marketo.sandbox.requests(endpoint=IDENTITY)) == 1  # the second process asked for no token
        assert marketo.emails_of(marketo.read_back()) == ["ada@x.io", "bob@x.io"]
        state = marketo.workspace.state_dir
        cache_files = list(state.glob(CACHE_FILE + "*"))
        assert cache_files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in cache_files)
        saved = _saved_token(marketo)
        for path in state.rglob("*"):  # the secret is nowhere, the token only in the owner-only cache
            if path.is_file():
                data = path.read_bytes()
                assert CLIENT_SECRET.encode() not in data, path
                assert saved.encode() not in data or path.name.startswith(CACHE_FILE), path


def test_a_token_marketo_expired_is_renewed_once_and_then_shared(tmp_path, monkeypatch):
    with marketo_workspace(tmp_path, monkeypatch) as marketo:
        marketo.sandbox.add_leads(INSTANCE, ["ada@x.io", "bob@x.io", "cy@x.io"])
        marketo.add_people([("ada@x.io", "2026-11-30T10:00:00Z", "ns-ada", "pro")])
        assert marketo.run().status == "healthy"
        first = _saved_token(marketo)
        marketo.sandbox.expire_tokens(INSTANCE, marketo.server.clock.now())  # before the cache says it expires
        marketo.add_people([("bob@x.io", "2026-11-30T11:00:00Z", "ns-bob", "free")])

        renewed = marketo.run()
        marketo.add_people([("cy@x.io", "2026-11-30T12:00:00Z", "ns-cy", "free")])
        third = marketo.run()

        assert (renewed.status, third.status) == ("healthy", "healthy")
        assert len(marketo.sandbox.requests(endpoint=IDENTITY)) == 2  # the first, and one after the 601/602
        assert _saved_token(marketo) != first
        assert marketo.emails_of(marketo.read_back()) == ["ada@x.io", "bob@x.io", "cy@x.io"]


def test_another_sync_of_the_instance_looks_up_only_the_emails_not_already_known(tmp_path, monkeypatch):
    with marketo_workspace(tmp_path, monkeypatch) as marketo:
        marketo.sandbox.add_activity_type(INSTANCE, "planRenewed_c", primary_attribute="namespace")
        (marketo.root / "workspace.toml").write_text((marketo.root / "workspace.toml").read_text() + SECOND_SYNC)
        marketo.sandbox.add_leads(INSTANCE, ["ada@x.io", "bob@x.io", "cy@x.io"])
        marketo.add_people([("ada@x.io", "2026-11-30T10:00:00Z", "ns-ada", "pro"),
                            ("bob@x.io", "2026-11-30T11:00:00Z", "ns-bob", "free"),
                            ("nobody@x.io", "2026-11-30T12:00:00Z", "ns-none", "pro")])
        assert marketo.run().counts.outcome("synced") == 2
        marketo.add_people([("cy@x.io", "2026-11-30T12:00:00Z", "ns-cy", "free")])
        marketo.sandbox.add_leads(INSTANCE, ["nobody@x.io"])  # created since the first sync looked for it
        since = marketo.sandbox.requests()[-1]["id"]

        done = run_in_another_process(marketo.root, "renewals")

        assert done.returncode == 0, done.stderr
        lookups = marketo.sandbox.requests(endpoint="leads", since_id=since)
        assert sorted(e for r in lookups for e in r["identifiers"]) == ["cy@x.io", "nobody@x.io"]
        added = marketo.sandbox.requests(endpoint="activities/external", since_id=since)
        assert sum(r["items"] for r in added) == 4  # every row of the second sync got its activity


def _saved_token(marketo) -> str:
    with sqlite3.connect(marketo.workspace.state_dir / CACHE_FILE) as db:
        (token,) = db.execute("SELECT token FROM tokens").fetchone()
    return token


def test_past_their_lifetimes_the_token_is_renewed_before_use_and_the_lead_looked_up_again(tmp_path, monkeypatch):
    clock = ManualClock(1_700_000_000.0)
    with marketo_workspace(tmp_path, monkeypatch, clock=clock) as marketo:
        marketo.sandbox.add_leads(INSTANCE, ["ada@x.io", "bob@x.io"])
        marketo.add_people([("ada@x.io", "2026-11-30T10:00:00Z", "ns-ada", "pro")])
        assert marketo.run(clock=clock).status == "healthy"
        clock.advance(LEAD_LIFETIME_SECONDS + 1)  # the token (an hour) and the lead (a day) are both stale
        marketo.add_people([("bob@x.io", "2026-11-30T11:00:00Z", "ns-bob", "free")])
        since = marketo.sandbox.requests()[-1]["id"]

        again = marketo.run(clock=clock, full_resync=True)

        assert again.status == "healthy", again.error
        lookups = marketo.sandbox.requests(endpoint="leads", since_id=since)
        assert sorted(e for r in lookups for e in r["identifiers"]) == ["ada@x.io", "bob@x.io"]
        assert len(marketo.sandbox.requests(endpoint=IDENTITY)) == 2
        refused = [r for r in marketo.sandbox.requests(since_id=since) if r["code"] in ("601", "602")]
        assert refused == []  # renewed before the call, not after Marketo refused it


def test_a_cached_lead_marketo_no_longer_has_is_forgotten_and_the_next_run_finds_the_lead(tmp_path, monkeypatch):
    with marketo_workspace(tmp_path, monkeypatch) as marketo:
        (ada,) = marketo.sandbox.add_leads(INSTANCE, ["ada@x.io"])
        # as if ada's lead had been merged into another since a sync found it: the cache holds an id Marketo lacks
        cache = MarketoSharedCache(marketo.workspace.state_dir, marketo.server.url, CLIENT_ID)
        cache.save_leads({"ada@x.io": ada + 1000}, time.time())
        marketo.add_people([("ada@x.io", "2026-11-30T10:00:00Z", "ns-ada", "pro")])

        stale = marketo.run()
        assert marketo.read_back() == []
        healed = marketo.run()

        assert stale.counts.outcome("rejected_expected") == 1  # Marketo answered 1004: not found, nothing added
        assert healed.counts.outcome("synced") == 1, healed.error
        assert marketo.emails_of(marketo.read_back()) == ["ada@x.io"]
        assert cache.leads(["ada@x.io"], time.time()) == {"ada@x.io": ada}
