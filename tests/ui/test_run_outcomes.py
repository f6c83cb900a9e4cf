"""How the dashboard shows what a run learned: a run blocked by a change guard, and standing rejections."""

from __future__ import annotations


def test_a_blocked_run_says_why_and_how_to_accept_it(demo, open_app):
    demo.run("iterable-production")
    demo.edit_warehouse("DELETE FROM marketing_contacts")
    blocked = demo.run("iterable-production")
    assert blocked.status == "blocked"

    at = open_app(demo.root, "pages/run.py", run=blocked.id)
    assert not at.exception
    assert at.markdown[0].value.startswith(":orange-badge[blocked]")
    [error] = at.error
    assert "model returned no rows" in error.value and "--allow-removals" in error.value
    assert any("Fix the model" in i.value for i in at.info)

    at = open_app(demo.root)  # Run history lists it with its status
    assert not at.exception
    table = at.dataframe[0].value
    assert table.loc[table["run"] == blocked.id, "status"].tolist() == ["blocked"]


def test_standing_rejections_are_told_apart_on_the_run_page(demo, open_app):
    demo.run("iterable-production")
    rerun = demo.run("iterable-production")
    assert rerun.counts.repeated_expected > 0
    at = open_app(demo.root, "pages/run.py", run=rerun.id)
    assert not at.exception
    [standing] = [c.value for c in at.caption if c.value.startswith("Standing:")]
    assert f"{rerun.counts.repeated_expected:,} expected" in standing
