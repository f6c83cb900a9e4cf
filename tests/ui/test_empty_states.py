"""Nothing to show yet: a new workspace, a sync that never ran, a run without failures. Each page says what to do."""

from __future__ import annotations

import re

import duckdb
import pytest

EMAIL = r"^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)+$"
PAGES = ["pages/runs.py", "pages/run.py", "pages/failed_rows.py"]


@pytest.mark.parametrize("page", PAGES)
def test_a_new_workspace_says_to_run_a_sync(demo, open_app, clean, page):
    at = open_app(demo.root, page)
    clean(at)
    [info] = at.info
    assert "No runs yet" in info.value and f"sync-core -w {demo.root} run iterable-production" in info.value


def test_a_sync_that_never_ran_says_how_to_run_it(demo, open_app, clean):
    demo.run("iterable-production")
    at = open_app(demo.root)
    clean(at)
    # Two syncs bear this name, as in the seed: the user sync and the events sync
    nevers = [m.value for m in at.main.markdown if m.value.startswith("**Iterable - First Namespace Details Sync**")]
    assert len(nevers) == 2  # each tile tells them apart by the sync's id
    assert {n.split("`")[1] for n in nevers} == {"iterable-first-namespace", "iterable-first-namespace-events"}
    assert all("never run" in never and "It has not run yet" in never for never in nevers)

    at.multiselect(key="runs_syncs").select("iterable-first-namespace").run()
    assert "has never run" in at.info[0].value and "run iterable-first-namespace" in at.info[0].value
    assert not at.dataframe

    at = open_app(demo.root, "pages/failed_rows.py", sync="iterable-first-namespace")
    clean(at)
    assert "has never run" in at.info[0].value and "run iterable-first-namespace" in at.info[0].value


def test_a_run_without_failures_says_there_is_nothing_to_fix(demo, open_app, clean):
    """A model restricted to people Iterable knows, with valid unique emails: every row syncs."""
    in_iterable = {u["email"] for u in demo.users()}
    counts: dict = {}
    for (email,) in demo.warehouse("SELECT email FROM marketing_contacts WHERE deleted_at IS NULL"):
        counts[email] = counts.get(email, 0) + 1
    known = sorted(e for e, n in counts.items() if n == 1 and e in in_iterable and re.match(EMAIL, e))[:200]
    with duckdb.connect(str(demo.root / "warehouse.duckdb")) as con:
        con.execute("CREATE TABLE known_people AS SELECT UNNEST(?::VARCHAR[]) AS email", [known])
    demo.edit_workspace("WHERE c.deleted_at IS NULL\nGROUP BY ALL",
                        "WHERE c.deleted_at IS NULL AND c.email IN (SELECT email FROM known_people)\nGROUP BY ALL")
    record = demo.run("iterable-production")
    assert record.status == "healthy" and record.counts.as_dict()["synced"] > 0

    at = open_app(demo.root, "pages/run.py", run=record.id)
    clean(at)
    assert any(f"No failed rows in run {record.id}" in i.value and "Nothing to fix" in i.value for i in at.info)

    at = open_app(demo.root, "pages/failed_rows.py", run=record.id)
    clean(at)
    assert f"No failed rows in run {record.id}" in at.info[0].value
    assert {m.label: m.value for m in at.main.metric} == {f"Real problems (in run {record.id})": "0",
                                                          f"Expected (in run {record.id})": "0"}
