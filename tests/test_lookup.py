"""Update-only look-ups: a full export of identifiers first, then exports of recent changes only; one export serves
every update-only sync of a credential for a while."""

from __future__ import annotations

import re
import time

import pytest

from sync_core import StateStore, lookup
from sync_core.clock import ManualClock, SystemClock
from sync_core.destinations.base import BatchRejected
from sync_core.errors import DestinationError
from sync_core.executor import Executor
from sync_core.demo.workspace import SANDBOX_PROJECT, advance_demo
from demo_helpers import demo_workspace
from workspace_toml import sync, workspace


def export_paths(demo, since_id):
    return [r for r in demo.sandbox.requests(endpoint="export/data.json", since_id=since_id)]


def test_later_runs_export_only_what_changed(demo, monkeypatch):
    # One machine, one clock: no margin for clock differences needed, and the runs are seconds apart.
    monkeypatch.setattr(lookup, "OVERLAP", 0)
    first = demo.run("iterable-production")
    assert any("full export" in n for n in first.notes)
    time.sleep(1.1)  # export windows have whole seconds: keep the first run's writes out of the third's window
    demo.run("iterable-production")  # writes nothing: no profile changes after its look-up began
    day = advance_demo(demo.workspace)  # the product creates some users
    third = demo.run("iterable-production")
    [note] = [n for n in third.notes if "Looked up" in n]
    new = int(re.search(r"([\d,]+) of them new", note)[1].replace(",", ""))
    assert new == len({u["email"].lower() for u in day.product_created_users})
    # ...and they are synced now, through that small export.
    created_and_valid = {u["email"] for u in day.product_created_users} & demo.valid_emails()
    assert created_and_valid and created_and_valid <= demo.snapshot()


def test_a_user_deleted_since_the_look_up_is_rejected_not_found_and_forgotten(demo):
    demo.run("iterable-production")
    victim = sorted(demo.snapshot())[0]
    demo.sandbox.delete_user(SANDBOX_PROJECT, email=victim)
    demo.edit_workspace("{ column = \"lead_score\", field = \"leadScore\" }",
                        "{ column = \"lead_score\", field = \"leadScoreV2\" }")  # every row changes: all are sent
    record = demo.run("iterable-production")
    with StateStore(demo.workspace.state_path) as store:
        [state] = store.rejections(key=victim)
        [scope] = {s for (s,) in store._db.execute("SELECT scope FROM known_identifier_scopes")
                   if s.endswith(":email")}
        known = set(store.known_identifiers(scope)[0].to_pylist())
    assert (state.code, state.error_class) == ("NotFound", "expected")  # Iterable said so: updateOnly
    assert victim not in known
    assert demo.sandbox.get_user(SANDBOX_PROJECT, email=victim) is None  # and nobody was re-created
    assert record.counts.as_dict()["rejected_expected"] >= 1


def test_a_full_resync_refreshes_the_whole_list(demo):
    demo.run("iterable-production")
    resync = demo.run("iterable-production", full_resync=True)
    assert any("full export" in n for n in resync.notes)


class RefusedExport:
    """A destination whose export answers a 400 (the sandbox answers one only to a malformed request)."""
    name, lookup_scope, lookup_scopes, lookup_max_age = "iterable", "scope", {"email": "scope"}, 600

    def existing(self, updated_since):
        raise BatchRejected("BadParams", "onlyFields must name a user field")


def test_an_export_refused_as_a_whole_is_a_config_error_naming_the_destination(tmp_path):
    with StateStore(tmp_path / "state.sqlite") as store:
        pending = lookup.PendingLookup(store, RefusedExport(), Executor(RefusedExport()), SystemClock(), sync_id="s",
                                       run_id=1)
        with pytest.raises(DestinationError) as err:
            pending.result()
    assert str(err.value).startswith("destination 'iterable' answered BadParams: the look-up of existing records "
                                     "was refused: onlyFields must name a user field")


USER_SYNCS = ("iterable-production", "iterable-first-namespace", "iterable-first-namespace-events")


def reused(record) -> bool:
    return any(n.startswith("Used the look-up of existing records") for n in record.notes)


def last_lookup(demo) -> float:
    with StateStore(demo.workspace.state_path) as store:
        return store._db.execute("SELECT max(last_export_at) FROM known_identifier_scopes").fetchone()[0]


def test_every_update_only_sync_of_a_credential_shares_one_export(demo):
    """By email and by userId, users and events: one export, and each sync writes exactly for who exists."""
    mark = demo.sandbox.last_request_id()
    records = {sync_id: demo.run(sync_id) for sync_id in USER_SYNCS}
    assert len(export_paths(demo, mark)) == 1
    assert not reused(records["iterable-production"]) and all(reused(records[s]) for s in USER_SYNCS[1:])
    user_ids = {u["userId"] for u in demo.users() if u.get("userId")}
    owner = dict(demo.warehouse("SELECT email, any_value(user_id) FROM marketing_contacts GROUP BY email "
                                "HAVING COUNT(*) = 1"))  # the userId each key is matched by (keys of one row)
    for sync_id in USER_SYNCS[1:]:  # matched on userId, with the list the email sync's run exported
        synced = demo.snapshot(sync_id) & owner.keys()
        with StateStore(demo.workspace.state_path) as store:
            not_found = {r.key for r in store.rejections(sync_id=sync_id) if r.code == "NotFound"} & owner.keys()
        assert synced and not_found
        assert all(owner[key] in user_ids for key in synced)
        assert not any(owner[key] in user_ids for key in not_found)


def test_an_export_older_than_the_reuse_window_is_not_used(tmp_path):
    clock = ManualClock()  # the sandbox's and the runs'
    with demo_workspace(tmp_path, clock=clock, destination_settings="lookup_max_age_seconds = 300") as demo:
        mark = demo.sandbox.last_request_id()
        demo.run("iterable-production")
        clock.advance(last_lookup(demo) + 300 - clock.now())  # the export is exactly as old as the window
        assert reused(demo.run("iterable-first-namespace"))
        clock.advance(last_lookup(demo) + 301 - clock.now())
        demo.sandbox.upsert_users(SANDBOX_PROJECT, [{"email": "late@x.io", "userId": "late-1", "dataFields": {}}],
                                  now=clock.now())  # the product creates a user after the export
        third = demo.run("iterable-first-namespace-events")
        assert not reused(third) and len(export_paths(demo, mark)) == 2
        with StateStore(demo.workspace.state_path) as store:
            [scope] = [s for s in demo_scopes(store) if s.endswith(":userId")]
            assert "late-1" in store.known_identifiers(scope).idents.to_pylist()  # the fresh export saw it


def demo_scopes(store) -> list[str]:
    return [s for (s,) in store._db.execute("SELECT scope FROM known_identifier_scopes")]


UPSERT_SYNC = workspace(sync("crm-upsert", name="CRM upsert", model="contacts", mode="upsert",
                             mappings=[("first_name", "firstName")]))


def test_a_user_a_sync_created_after_the_export_is_not_missing_for_the_next_sync(demo):
    """An upsert sync creates users after the export an update-only sync then reuses: they exist, and are
    written, not refused as not found."""
    with (demo.root / "workspace.toml").open("a") as toml:
        toml.write(UPSERT_SYNC)
    demo.run("iterable-first-namespace")  # exports who exists, for emails too
    known_before = {u["email"].lower() for u in demo.users() if u.get("email")}
    created = demo.run("crm-upsert")
    assert created.counts.as_dict()["synced"] > 0
    assert {u["email"].lower() for u in demo.users() if u.get("email")} - known_before  # it created users
    then = demo.run("iterable-production")  # within the window: reuses the export made before they existed
    assert reused(then)
    assert then.counts.as_dict()["rejected_expected"] == 0  # nobody it writes to is reported missing
    assert demo.snapshot("iterable-production") == demo.snapshot("crm-upsert")


def test_a_syncs_own_rerun_looks_up_again(demo):
    """Its first run made (or used) the export: someone created in Iterable since, then a rerun, is written."""
    demo.run("iterable-production")
    [email] = [e for e in sorted(demo.valid_emails()) if e.lower() not in {u["email"].lower() for u in demo.users()
                                                                          if u.get("email")}][:1]
    demo.sandbox.upsert_users(SANDBOX_PROJECT, [{"email": email, "dataFields": {}}])  # the product creates them
    rerun = demo.run("iterable-production")
    assert not reused(rerun)
    assert email in demo.snapshot() and demo.rejections(email) == []

