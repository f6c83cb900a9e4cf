"""The demo's dbt model: the first-namespace syncs read the seed's dbt model (sync_core/demo/dbt_project.py),
materialised in the demo warehouse, and a sync over it counts and sends exactly what the same SQL written by hand
does, on the first day and the day after (real sandbox over loopback HTTP)."""

from __future__ import annotations

import re

from demo_helpers import demo_workspace
from sync_core import StateStore
from sync_core.demo.workspace import FIRST_NAMESPACE_SQL, advance_demo
from sync_core.model_check import check

DBT_SYNC, HAND_SYNC = "iterable-first-namespace", "first-namespace-by-hand"


def add_twin_by_hand(demo) -> None:
    """A model of the dbt model's SQL written by hand, and a copy of the dbt sync over it."""
    toml = demo.root / "workspace.toml"
    text = toml.read_text()
    sync = re.search(r"^\[syncs\.iterable-first-namespace\]\n.*?(?=^\[)", text, flags=re.M | re.S)[0]
    twin = (sync.replace("[syncs.iterable-first-namespace]", f"[syncs.{HAND_SYNC}]")
            .replace('model = "first_namespace"', 'model = "first_namespace_by_hand"'))
    toml.write_text(text + "\n" + FIRST_NAMESPACE_SQL.replace("[models.first_namespace]",
                                                              "[models.first_namespace_by_hand]") + "\n" + twin
                    + f'\n[[syncs.{HAND_SYNC}.expected_errors]]\ncode = "NotFound"\nreason = "update-only"\n')


def hashes(demo, sync_id: str) -> dict[str, str]:
    with StateStore(demo.workspace.state_path) as store:
        return {r["key"]: r["row_hash"] for r in store.snapshot_table(sync_id).to_pylist()}


def test_a_sync_over_the_dbt_model_counts_what_the_same_sql_by_hand_counts(demo):
    workspace = demo.workspace
    assert workspace.models["first_namespace"].dbt.name == "marketing_contact_namespace_detail"
    add_twin_by_hand(demo)
    for day in range(2):
        from_dbt, by_hand = demo.run(DBT_SYNC), demo.run(HAND_SYNC)
        assert from_dbt.status == by_hand.status != "failed", (from_dbt.error, by_hand.error)
        assert from_dbt.counts.as_dict() == by_hand.counts.as_dict(), f"day {day}"
        counts = from_dbt.counts.as_dict()
        assert counts["synced"] > 0 and counts["rejected_expected"] > 0  # people with and without an Iterable user
        assert day == 0 or counts["added"] > 0 and counts["removed"] > 0  # the day's new and gone people
        assert hashes(demo, DBT_SYNC) == hashes(demo, HAND_SYNC)  # the same rows, the same values sent
        advance_demo(demo.workspace)  # the view follows the warehouse's day: no `dbt run` needed


def test_model_check_judges_the_dbt_models_keys_for_each_sync_over_it(tmp_path):
    with demo_workspace(tmp_path, marketo=True) as demo:
        found = check(demo.workspace, "first_namespace")
        assert found.rows == demo.warehouse("SELECT COUNT(*) FROM marketing_contact_namespace_detail")[0][0]
        assert {s.sync for s in found.shared} == {"iterable-first-namespace", "iterable-first-namespace-events",
                                                  "marketo-activities"}  # Marketo compares emails without case
