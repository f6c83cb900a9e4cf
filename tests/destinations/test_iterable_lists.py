"""Iterable lists (`object = "list"`): a segment's rows synced to a static list of a real sandbox on loopback. Rows
that enter the model are subscribed, rows that leave it are unsubscribed under the identifier they were subscribed
with, and every bad input (a list that does not exist, one that takes no subscribers, a key that cannot write, a
model that would unsubscribe everyone) stops the run with a clear cause before anything changes."""

from __future__ import annotations

import pyarrow as pa
import pytest
import requests

from small_workspace import KEY, PROJECT, small_workspace
from sync_core import invariant_violations, load_workspace
from sync_core.config import ConfigError
from sync_core.destinations.opening import open_destination
from sync_core.rows import RowColumns, column_of, leaving_rows

TABLE = "k VARCHAR, email VARCHAR, plan VARCHAR"
LIST = "Customers"


def list_workspace(tmp_path, monkeypatch, rows, *, settings=f'list_name = "{LIST}"', mappings=(), mode="update"):
    return small_workspace(tmp_path, monkeypatch, table=TABLE, rows=rows, mappings=list(mappings), mode=mode,
                           primary_key="k", sync_settings=settings, obj="list")


def members(small, list_id: int) -> set[str]:
    """The list's membership, read back over HTTP as a client of Iterable would (GET /api/lists/getUsers)."""
    answer = requests.get(f"{small.server.url}/api/lists/getUsers", headers={"Api-Key": KEY},
                          params={"listId": list_id}, timeout=10)
    answer.raise_for_status()
    return set(answer.text.splitlines())


def list_requests(small) -> list[dict]:
    return [r for r in small.sandbox.requests() if r["endpoint"] in ("lists/subscribe", "lists/unsubscribe")]


def test_a_segment_sync_subscribes_its_members_and_unsubscribes_exactly_those_who_left(tmp_path, monkeypatch):
    rows = [("k1", "ana@x.io", "team"), ("k2", "Bob@x.io", "free"), ("k3", "cy@x.io", "team"),
            ("k4", "nobody@x.io", "free")]
    with list_workspace(tmp_path, monkeypatch, rows, mappings=[("plan", "plan")]) as small:
        list_id = small.sandbox.add_list(PROJECT, LIST)
        small.create_users("ana@x.io", "bob@x.io", "cy@x.io", "cy.new@x.io", "dan@x.io")
        first = small.run()
        counts = first.counts.as_dict()
        assert first.status == "healthy", first.error
        assert invariant_violations(counts) == []
        assert (counts["synced"], counts["rejected_expected"]) == (3, 1)  # nobody@x.io has no user: expected
        assert members(small, list_id) == {"ana@x.io", "bob@x.io", "cy@x.io"}
        assert small.user("ana@x.io")["dataFields"] == {"plan": "team"}  # mapped fields go with the subscribe
        assert small.user("nobody@x.io") is None  # update-only created nobody, and sent nobody:
        assert "nobody@x.io" not in {i for r in list_requests(small) for i in r["identifiers"]}

        # A day later: Bob leaves; Cy's row now names another email; Ana's key is gone but a new key names her.
        small.sql("DELETE FROM people WHERE k IN ('k1', 'k2')")
        small.sql("UPDATE people SET email = 'cy.new@x.io' WHERE k = 'k3'")
        small.sql("INSERT INTO people VALUES ('k5', 'ANA@x.io', 'team'), ('k6', 'dan@x.io', 'free')")
        before = small.sandbox.requests()[-1]["id"]
        second = small.run(allow_removals=True)  # 2 of 3 members' keys left: past the removal guard's share
        counts = second.counts.as_dict()
        assert second.status == "healthy", second.error
        assert invariant_violations(counts) == []
        assert (counts["removed"], counts["changed"], counts["added"]) == (2, 1, 2)
        assert members(small, list_id) == {"ana@x.io", "cy.new@x.io", "dan@x.io"}
        left = [r for r in small.sandbox.requests(endpoint="lists/unsubscribe", since_id=before)]
        assert sorted(i for r in left for i in r["identifiers"]) == ["bob@x.io", "cy@x.io"]  # never ana@x.io
        assert set(small.snapshot()) == {"k3", "k5", "k6"}


def test_the_membership_equals_the_models_valid_keys_that_exist_as_users(tmp_path, monkeypatch):
    rows = [(f"k{i}", f"p{i}@x.io" if i % 7 else "not-an-email", "free") for i in range(60)]
    rows += [("k0", "again@x.io", "free"), (None, "nokey@x.io", "free")]  # a duplicated key, a null key
    with list_workspace(tmp_path, monkeypatch, rows, settings="list_id = 1") as small:
        list_id = small.sandbox.add_list(PROJECT, LIST)
        assert list_id == 1
        small.create_users(*(f"p{i}@x.io" for i in range(0, 60, 2)), "nokey@x.io")
        run = small.run()
        assert run.error is None and invariant_violations(run.counts.as_dict()) == []  # failed: 9 invalid emails
        # Computed apart from the engine: rows with a unique, non-null key and a valid email whose user exists.
        keys = [k for k, _, _ in rows]
        existing = {u["email"] for u in small.sandbox.users(PROJECT)}
        expected = {e.lower() for k, e, _ in rows
                    if k is not None and keys.count(k) == 1 and "@" in e and e.lower() in existing}
        assert expected and members(small, list_id) == expected


@pytest.mark.parametrize("settings, code, named", [
    ("list_id = 424242", "UnknownList", "list_id = 424242"),
    ('list_name = "Nope"', "UnknownList", "list_name = 'Nope'"),
    ('list_name = "Twice"', "AmbiguousListName", "list_name = 'Twice'"),
    ('list_name = "Active"', "ListNotWritable", "Dynamic list"),
])
def test_a_list_that_does_not_exist_or_takes_no_subscribers_fails_the_run_before_the_query(
        tmp_path, monkeypatch, settings, code, named):
    with list_workspace(tmp_path, monkeypatch, [("k1", "ana@x.io", "team")], settings=settings) as small:
        small.create_users("ana@x.io")
        small.sandbox.add_list(PROJECT, LIST)
        small.sandbox.add_list(PROJECT, "Twice")
        small.sandbox.add_list(PROJECT, "Twice")
        small.sandbox.add_list(PROJECT, "Active", list_type="Dynamic")
        run = small.run()
        assert (run.status, run.error_class) == ("failed", "config")
        assert code in run.error and named in run.error and "syncs.people" in run.error, run.error
        if code == "UnknownList":
            assert f"'{LIST}'" in run.error  # the lists the key can see, to pick from
        assert list_requests(small) == [] and small.snapshot() == {}
        assert run.counts.as_dict()["queried"] == 0  # stopped before the model was queried


def test_a_key_that_cannot_write_fails_the_run_naming_the_key_and_subscribes_nobody(tmp_path, monkeypatch):
    with list_workspace(tmp_path, monkeypatch, [("k1", "ana@x.io", "team")]) as small:
        small.create_users("ana@x.io")
        list_id = small.sandbox.add_list(PROJECT, LIST)
        small.sandbox.set_key_scope(PROJECT, "read_only")
        run = small.run()
        assert (run.status, run.error_class) == ("failed", "config")
        assert "403 Forbidden" in run.error and "read-only" in run.error, run.error
        assert "destinations.iterable.api_key" in run.error and KEY not in run.error
        assert members(small, list_id) == set() and small.snapshot() == {}


def test_a_model_that_would_unsubscribe_everyone_is_blocked_until_accepted(tmp_path, monkeypatch):
    rows = [(f"k{i}", f"p{i}@x.io", "free") for i in range(5)]
    with list_workspace(tmp_path, monkeypatch, rows) as small:
        list_id = small.sandbox.add_list(PROJECT, LIST)
        small.create_users(*(e for _, e, _ in rows))
        assert small.run().counts.as_dict()["synced"] == 5
        small.sql("DELETE FROM people")
        blocked = small.run()
        assert blocked.status == "blocked" and "--allow-removals" in blocked.error, blocked.error
        # The model returns rows again, but none of the members: 5 of 5 would leave.
        small.sql("INSERT INTO people VALUES ('k9', 'p9@x.io', 'free')")
        blocked = small.run()
        assert blocked.status == "blocked" and "remove" in blocked.error, blocked.error
        assert list_requests(small)[-1]["endpoint"] == "lists/subscribe"  # no unsubscribe was sent
        assert len(members(small, list_id)) == 5

        accepted = small.run(allow_removals=True)
        assert accepted.counts.as_dict()["removed"] == 5 and invariant_violations(accepted.counts.as_dict()) == []
        assert members(small, list_id) == set()  # p9@x.io has no user: expected, not subscribed


def test_a_list_sync_names_its_list_once(tmp_path, monkeypatch):
    with list_workspace(tmp_path, monkeypatch, [], settings='list_id = 1\nlist_name = "Customers"') as small:
        with pytest.raises(ConfigError, match="syncs.people.list_id.*exactly one of list_id or list_name"):
            load_workspace(small.root)
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    with list_workspace(tmp_path / "b", monkeypatch, [], settings="") as small:
        with pytest.raises(ConfigError, match="exactly one of list_id or list_name"):
            load_workspace(small.root)
    with small_workspace(tmp_path / "c", monkeypatch, table=TABLE, rows=[], mappings=[("plan", "plan")],
                         primary_key="k", sync_settings="list_id = 1") as small:
        with pytest.raises(ConfigError, match="list_id.*not a key of a sync to iterable users"):
            load_workspace(small.root)


def test_a_member_whose_row_becomes_invalid_is_unsubscribed_and_comes_back_when_it_is_valid(tmp_path, monkeypatch):
    with list_workspace(tmp_path, monkeypatch, [("k1", "ana@x.io", "team"), ("k2", "bob@x.io", "team")]) as small:
        list_id = small.sandbox.add_list(PROJECT, LIST)
        small.create_users("ana@x.io", "bob@x.io")
        assert small.run().counts.as_dict()["synced"] == 2
        small.sql("INSERT INTO people VALUES ('k1', 'ana.other@x.io', 'free')")  # k1 now names two rows
        duplicated = small.run()
        counts = duplicated.counts.as_dict()
        assert (counts["invalid"], counts["planned"]) == (2, 0) and invariant_violations(counts) == []
        assert members(small, list_id) == {"bob@x.io"} and set(small.snapshot()) == {"k2"}
        assert small.rejections()["k1"] == "DuplicatePrimaryKey"

        small.sql("DELETE FROM people WHERE email = 'ana.other@x.io'")
        assert small.run().counts.as_dict()["synced"] == 1
        assert members(small, list_id) == {"ana@x.io", "bob@x.io"}


def test_leaving_keys_are_unsubscribed_settled_or_refused_as_their_recorded_identifier_says(tmp_path, monkeypatch):
    """The rare outcomes of leaving rows, against the sandbox: a key whose identifier is still named by the model
    stays subscribed with no call; a key with no identifier recorded cannot be unsubscribed exactly (it leaves
    the snapshot, refused); an identifier Iterable refuses is refused; the rest are unsubscribed. Leaving rows
    travel as columns of keys (rows.leaving_rows) and the confirmed ones come back as columns."""
    with list_workspace(tmp_path, monkeypatch, [("k1", "ana@x.io", "team")]) as small:
        list_id = small.sandbox.add_list(PROJECT, LIST)
        small.create_users("ana@x.io", "bob@x.io", "cy@x.io")
        workspace = small.workspace
        dest = open_destination(workspace, workspace.syncs["people"])
        dest.check_target()
        dest._post("/api/lists/subscribe", ['{"email": "bob@x.io"}', '{"email": "cy@x.io"}'], None)
        dest.track_members({"k-bob": "bob@x.io", "k-cy": "cy@x.io", "k-bad": "not an email"},
                           pa.array(["cy@x.io"]))

        batches = dest.batches(leaving_rows(["k-bob", "k-none", "k-cy", "k-bad"],
                                            ["removed", "withdrawn", "removed", "removed"]))
        results = [dest.send(batch) for batch in batches]

        synced = sorted(key for r in results for key in column_of(r.synced, "key"))
        refused = {r.row.key: (r.code, r.record_missing) for result in results for r in result.rejected}
        assert all(isinstance(r.synced, RowColumns) for r in results)
        assert synced == ["k-bob", "k-cy"]
        assert refused == {"k-none": ("MembershipUnknown", True), "k-bad": ("InvalidIdentifier", False)}
        assert members(small, list_id) == {"cy@x.io"}  # Bob left; Cy's identifier is still the model's
        calls = [r for r in list_requests(small) if r["endpoint"] == "lists/unsubscribe"]
        assert sorted(i for r in calls for i in r["identifiers"]) == ["bob@x.io", "not an email"]
