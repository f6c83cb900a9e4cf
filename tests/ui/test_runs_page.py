"""Run history: the last run of each sync, the chart, the table, the filters and the way into one run."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pandas as pd

from html_charts import chart, figures
from sync_core import invariant_violations
from ui.data import RUN_COLUMNS
from ui.formatting import STATUS_COLOURS
from ui.timeline import runs_timeline, ticks


def runs_by_id(history) -> dict[int, tuple]:
    """(sync, status, trigger, started_at, counts) per run, by SQL over the state store."""
    return {i: (s, st, t, at, json.loads(c)) for i, s, st, t, at, c in
            history.state_sql("SELECT id, sync_id, status, trigger, started_at, counts FROM runs")}


def test_table_lists_every_run_with_its_counts(history, open_app, clean):
    at = open_app(history.root)
    clean(at)
    expected = runs_by_id(history)
    table = at.dataframe[0].value
    assert sorted(table["run"]) == sorted(expected) and list(table["run"]) == sorted(expected, reverse=True)
    for _, row in table.iterrows():
        sync, status, trigger, _, c = expected[row["run"]]
        assert (row["sync"], row["status"], row["trigger"]) == (sync, status, trigger)
        assert (row["synced"], row["expected rejections"], row["real problems"]) == (
            c["synced"], c["rejected_expected"], c["invalid"] + c["rejected_other"] + c["failed"])
        assert invariant_violations(c) == []
    # What a person reads first, so that it fits a laptop's screen; the error and every count are in the run's view.
    assert [c.split(" (")[0] for c in table.columns] == [
        "run", "sync", "status", "started", "duration", "synced", "expected rejections", "real problems", "trigger"]


def tile(at, name: str, sync_id: str | None = None) -> str:
    """The text of a sync's tile: its name, its last run's status and what that run found, as one sentence. A
    name two syncs share is followed by the sync's id."""
    found = [m.value for m in at.main.markdown if m.value.startswith(f"**{name}**")]
    if len(found) > 1:
        found = [t for t in found if t.startswith(f"**{name}** `{sync_id}`")]
    [text] = found
    return text


def test_each_sync_says_what_its_last_run_found_and_whether_it_is_new(history, open_app, clean):
    """Not WARNING alone: the tile says how many rows have data problems and how many of them are new; the
    demo's days meet the same bad rows again."""
    at = open_app(history.root)
    clean(at)
    names = {s.id: s.name for s in history.workspace.syncs.values()}
    last = history.state_sql("SELECT sync_id, id, status, counts FROM runs WHERE id IN "
                             "(SELECT MAX(id) FROM runs GROUP BY sync_id)")
    assert len(last) == len(names) == 3
    for sync_id, run_id, status, counts in last:
        c = json.loads(counts)
        text = tile(at, names[sync_id], sync_id)
        bad = c["invalid"] + c["rejected_other"]
        assert f"-badge[{status}]" in text and status.upper() not in text
        assert f"**{bad:,} row{'s' * (bad != 1)} with data problems**" in text and bad > 0
        assert history.new_problems(run_id) == 0 and "none new since the last run" in text
        assert f"{c['rejected_expected']:,} rows left out as expected" in text


def test_a_tile_tells_new_problems_from_standing_ones(demo, open_app):
    """The first run's problems are all it knows; a rerun that syncs nothing meets the same ones (none new);
    a key duplicated since is new."""
    name = demo.workspace.syncs["iterable-production"].name
    first = demo.run("iterable-production")
    assert "found by the sync's first run" in tile(open_app(demo.root), name)

    again = demo.run("iterable-production")
    text = tile(open_app(demo.root), name)
    assert f"-badge[{again.status}]" in text and again.counts.as_dict()["synced"] == 0
    assert "none new since the last run" in text and "Nothing had changed to sync" in text

    key = sorted(demo.snapshot())[0]
    demo.edit_warehouse("INSERT INTO marketing_contacts SELECT * REPLACE ('Copy' AS first_name) FROM "
                        "marketing_contacts WHERE email = ?", [key])
    third = demo.run("iterable-production")
    added = third.counts.invalid - again.counts.invalid
    assert added == 2 and first.counts.invalid == again.counts.invalid  # the key's two rows
    bad = third.counts.invalid + third.counts.outcome("rejected_other")
    assert f"**{bad:,} rows with data problems**, :red[2 of them new since the last run]" in tile(
        open_app(demo.root), name)


def test_chart_has_duration_by_status_and_outcomes_per_run(history, open_app, clean):
    """The timeline (ui/timeline.py, HTML): a column per run in run order, its outcomes stacked, its duration and
    status, and a tooltip saying them."""
    at = open_app(history.root)
    figure = chart(at, "runs_timeline")
    expected = runs_by_id(history)
    columns = figure["rows"]
    assert [c["run"] for c in columns] == sorted(expected)  # oldest left
    for column in columns:
        sync, status, _, _, c = expected[column["run"]]
        assert (column["sync"], column["status"]) == (sync, status)
        assert column["parts"].get("synced", 0) == c["synced"]
        assert column["parts"].get("left out as expected", 0) == c["rejected_expected"]
        assert column["parts"].get("key missing or repeated", 0) == c["invalid"]
        assert column["value"] == sum(column["parts"].values()) > 0
        assert column["duration"] > 0  # a dot at its duration
        assert f"{sync} · {status} · {column['duration']:,.2f} s" in column["title"]
        assert f"synced: {c['synced']:,}" in column["title"] or not c["synced"]
    [html] = [h.proto.body for h in at.get("html") if 'data-chart="runs_timeline"' in h.proto.body]
    assert html.count('class="rt-dot"') == len(expected)
    statuses = {status for _, status, *_ in expected.values()}
    assert all(f"background:{STATUS_COLOURS[s]}" in html for s in statuses)  # each status its colour
    assert not at.get("vega_lite_chart")  # the page loads no chart library


def test_the_timeline_scale_is_round_and_covers_the_longest_bar():
    assert ticks(2.31) == (3.0, [0.0, 1.0, 2.0, 3.0])
    assert ticks(346_000) == (400_000.0, [0.0, 100_000.0, 200_000.0, 300_000.0, 400_000.0])
    assert ticks(7) == (8.0, [0.0, 2.0, 4.0, 6.0, 8.0])
    assert ticks(0) == (1.0, [0.0, 1.0])
    for top in (0.4, 3, 9.99, 10, 11, 123_456, 1_500_000):
        end, marks = ticks(top)
        assert end >= top and marks[-1] == end and 3 <= len(marks) <= 6


def test_filters_narrow_the_runs(history, open_app, clean):
    at = open_app(history.root)
    expected = runs_by_id(history)

    at.multiselect(key="runs_syncs").select("iterable-first-namespace").run()
    assert set(at.dataframe[0].value["run"]) == {i for i, r in expected.items() if r[0] == "iterable-first-namespace"}

    at.multiselect(key="runs_syncs").unselect("iterable-first-namespace").run()
    at.multiselect(key="runs_statuses").select("healthy").run()
    assert not any(r[1] == "healthy" for r in expected.values())  # the demo's warehouse holds invalid rows
    assert "No runs match these filters" in at.info[0].value and not at.dataframe

    at.multiselect(key="runs_statuses").unselect("healthy").run()
    at.multiselect(key="runs_triggers").select("test").run()
    assert len(at.dataframe[0].value) == len(expected)

    first_day = min(datetime.fromisoformat(r[3]) for r in expected.values()).astimezone().date()
    at.date_input(key="runs_dates").set_value((first_day, first_day)).run()
    on_first_day = {i for i, r in expected.items()
                    if datetime.fromisoformat(r[3]).astimezone().date() == first_day}
    assert set(at.dataframe[0].value["run"]) == on_first_day and len(on_first_day) == len(history.workspace.syncs)


def test_selecting_a_run_links_to_its_view_and_failed_rows(history, open_app, clean):
    at = open_app(history.root)
    second = int(at.dataframe[0].value["run"].iloc[1])
    at.session_state["runs_table"] = {"selection": {"rows": [1], "columns": []}}
    at.run()
    links = {(p.proto.label, p.proto.page, p.proto.query_string) for p in at.get("page_link")}
    assert (f"Open run {second}", "run", f"run={second}") in links
    assert (f"Failed rows of run {second}", "failed_rows", f"run={second}") in links


def test_times_are_stored_utc_and_labelled_where_shown(history, open_app, clean):
    at = open_app(history.root)
    started = [r[3] for r in runs_by_id(history).values()]
    assert all(datetime.fromisoformat(s).tzinfo == timezone.utc for s in started)
    assert any(c.startswith("started (") for c in at.dataframe[0].value.columns)
    assert any("Times are shown in" in c.value for c in at.sidebar.caption)


def test_an_open_page_shows_runs_of_a_new_day(demo, open_app):
    """The date range follows the history: a page left open shows the next day's runs on its next rerun."""
    from sync_core.clock import OffsetClock

    first = demo.run("iterable-production")
    at = open_app(demo.root)
    assert list(at.dataframe[0].value["run"]) == [first.id]
    tomorrow = demo.run("iterable-first-namespace", dated=OffsetClock(86_400))
    at.run()
    assert list(at.dataframe[0].value["run"]) == [tomorrow.id, first.id]


def test_a_running_run_has_a_bar_and_no_dot_yet():
    """A run still going has no duration: its column is drawn (its rows so far) without a dot, and says so."""
    def run(i, status, duration, synced):
        return {**dict.fromkeys(RUN_COLUMNS, 0), "run": i, "sync": "s", "status": status, "trigger": "cli",
                "started": f"2026-12-0{i}T02:00:00+00:00", "duration_s": duration, "synced": synced, "error": ""}

    frame = pd.DataFrame([run(2, "running", None, 40), run(1, "healthy", 1.5, 100)], columns=RUN_COLUMNS)
    html = runs_timeline(frame, "UTC")
    [figure] = figures(html)
    assert [(c["run"], c["status"], c["duration"], c["value"]) for c in figure["rows"]] == [
        (1, "healthy", 1.5, 100), (2, "running", None, 40)]
    assert html.count('class="rt-dot"') == 1 and "still running" in figure["rows"][1]["title"]
    assert "#1 · 12-01 02:00" in html and "#2 · 12-02 02:00" in html  # both runs named under the bars
