"""Reconciliation of an Iterable list against the sandbox: its membership read back (GET /api/lists/getUsers),
a member removed and an outsider added behind the sync's back found as such, and a resend that repairs it."""

from __future__ import annotations

from small_workspace import PROJECT, small_workspace
from sync_core.reconcile import reconcile
from sync_core.sandbox.iterable.user_batch import UserUpdate

TABLE = "k VARCHAR, email VARCHAR, plan VARCHAR"
# The sandbox runs without limits: runs and reconciliations need not wait for the export's 4 reads a minute.
FAST = 'rate_limits = { "export/data.json" = "600/min", "lists/getUsers" = "600/min" }'


def test_a_lists_reconciliation_finds_the_member_removed_and_the_outsider_added_by_hand(tmp_path, monkeypatch):
    rows = [("k1", "ana@x.io", "team"), ("k2", "bob@x.io", "free"), ("k3", "cy@x.io", "team"),
            ("k4", "nobody@x.io", "free")]
    with small_workspace(tmp_path, monkeypatch, table=TABLE, rows=rows, mappings=[("plan", "plan")],
                         primary_key="k", sync_settings='list_name = "Customers"', obj="list",
                         destination_settings=FAST) as small:
        list_id = small.sandbox.add_list(PROJECT, "Customers")
        small.create_users("ana@x.io", "bob@x.io", "cy@x.io", "stranger@x.io")
        assert small.run().counts.as_dict()["synced"] == 3
        assert reconcile(small.workspace, "people").clean

        small.sandbox.unsubscribe(PROJECT, list_id, [("bob@x.io", None)])  # as someone editing the list would
        small.sandbox.subscribe(PROJECT, list_id, [UserUpdate("stranger@x.io", None, {})], now=0, update_only=True)
        report = reconcile(small.workspace, "people")

        assert report.missing == ["k2"] and not report.clean
        funnel = report.funnel
        assert (funnel.destination_records, funnel.unknown_to_model, funnel.present) == (3, 1, 2)
        assert funnel.in_snapshot == 3 and [(f.field, f.matching) for f in report.fields] == [("plan", 2)]

        small.run(only_keys=report.resend_keys())  # Bob subscribed again
        again = reconcile(small.workspace, "people")
        assert again.missing == [] and again.funnel.present == 3
        assert again.funnel.unknown_to_model == 1  # the outsider stays: a sync removes only members it added
