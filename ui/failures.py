"""Parts of the failed-rows page: its scope (sync, run, class, dates), the two kinds of causes with their
trends, and one cause's rows with a CSV download."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from sync_core import ERROR_CLASSES, Workspace
from sync_core.history import Facets, RowScope, RunFilter, is_expected
from sync_core.model_check import null_key_query
from sync_core.planner import NULL_KEY
from ui import charts, data
from ui.errors import problem
from ui.filters import date_range, seed_from_url, sync_ids, sync_label, to_url
from ui.formatting import (
    CLASS_LABELS,
    EXPECTED_HEADING,
    REAL_HEADING,
    local_date,
    local_text,
    local_times,
    rows,
    zone_label,
)

NOW = None  # the run choice meaning "the rows not synced as they stand"


@dataclass(frozen=True)
class Scope:
    sync_id: str | None
    run_id: int | None
    run_sync_id: str | None  # the chosen run's sync, which its rows belong to
    error_class: str | None
    since: str
    until: str

    def runs(self) -> RunFilter:
        """The runs the trend draws: of the chosen run's sync when a run is chosen, else of the chosen sync."""
        sync_id = self.run_sync_id or self.sync_id
        return RunFilter(sync_ids=(sync_id,) if sync_id else (), since=self.since, until=self.until)

    def rows_of(self, cause_id: int) -> RowScope:
        """The rows behind a cause of the table above: like it, they follow the run picked, not the dates."""
        return RowScope(cause_id, sync_id=self.run_sync_id or self.sync_id, run_id=self.run_id)


def scope_filters(workspace: Workspace, facets: Facets, notices) -> Scope:
    """The filters, seeded from the link; what a link names that is not there is said in `notices`."""
    syncs = [None] + sync_ids(workspace, facets)
    unknown = seed_from_url("fr_sync", "sync", str, syncs)
    if unknown is not None:
        with notices:
            problem(f"This link names a sync `{unknown}` that this workspace does not have.",
                    f"Showing all syncs: pick one under **Sync**. The syncs are declared in {workspace.file.name}.")
    # One row of filters: the tables, and a cause's rows under them, start within the first screen.
    sync_col, run_col, class_col, dates_col = st.columns([2, 4, 2, 3])  # the dates whole at a laptop's width
    sync_id = sync_col.selectbox("Sync", syncs, key="fr_sync",
                                 format_func=lambda s: "All syncs" if s is None else sync_label(workspace, s))
    error_class = class_col.selectbox("Class", [None, *ERROR_CLASSES], key="fr_class",
                                      format_func=lambda c: "All classes" if c is None else CLASS_LABELS[c])
    with dates_col:
        since, until = date_range(facets, "fr_dates")
    in_range = data.runs_frame(workspace, RunFilter(sync_ids=(sync_id,) if sync_id else (), since=since, until=until))
    labels = {int(r.run): _run_label(r.run, r.sync, r.started, r.status) for r in in_range.itertuples()}
    linked, record = st.query_params.get("run"), None
    if linked and linked.isdigit() and int(linked) not in labels:  # a deep link outside the date range still works
        record, _ = data.run_detail(workspace, int(linked))
        if record and sync_id in (None, record.sync_id):
            labels[record.id] = _run_label(record.id, record.sync_id, record.started_at, record.status)
    options = [NOW] + list(labels)
    bad_run = seed_from_url("fr_run", "run", int, options)
    if bad_run is not None:
        with notices:
            problem(_not_a_run(workspace, bad_run, record, sync_id),
                    "Showing the rows not synced now: pick a run under **Run**, or open Run history and select one.")
    if st.session_state.get("fr_run", NOW) not in options:  # a run of another sync than the one now chosen
        st.session_state["fr_run"] = NOW
    run_id = run_col.selectbox("Run", options, key="fr_run",
                               format_func=lambda r: "Now: rows not synced as they stand" if r is NOW else labels[r],
                               help=f"Runs of the chosen sync and dates ({zone_label()}), newest first.")
    to_url("sync", sync_id)
    to_url("run", run_id)
    run_sync = None
    if run_id is not None:
        run_sync = data.run_detail(workspace, run_id)[0].sync_id
    return Scope(sync_id, run_id, run_sync, error_class, since, until)


def _not_a_run(workspace: Workspace, raw: str, record, sync_id: str | None) -> str:
    if not raw.isdigit():
        return f"This link names a run `{raw}`, which is not a run number."
    if record is None:
        return f"There is no run `{raw}` in this workspace's history."
    return (f"Run {raw} is a run of {sync_label(workspace, record.sync_id)}, not of the sync this link names, "
            f"{sync_label(workspace, sync_id)}.")


def split(causes: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(expected, real) causes."""
    expected = causes["class"].map(is_expected).astype(bool)  # astype: an empty map is not a boolean mask
    return causes[expected], causes[~expected]


def totals(real: pd.DataFrame, expected: pd.DataFrame, scope: Scope) -> None:
    where = f"in run {scope.run_id}" if scope.run_id else "not synced now"
    real_tile, expected_tile = st.columns(2)
    real_tile.metric(f"Real problems ({where})", f"{int(real['rows'].sum()):,}",
                     help="Rows someone has to fix: a key missing or repeated in the data, a value the destination "
                          "refused, or the sync's settings.")
    expected_tile.metric(f"Expected ({where})", f"{int(expected['rows'].sum()):,}",
                         help="Rows the sync's own rules leave out, e.g. people the destination does not have when "
                              "the sync only updates: nothing to fix.")


def _run_label(run_id, sync_id: str, started_at: str, status: str) -> str:
    return f"Run {run_id} · {sync_id} · {local_text(started_at)[:16]} · {status}"  # to the minute: it fits


def daily_trend(trend: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Rows per local day and cause: of each sync's last run that day that tried every row (an hourly sync's
    failing rows are not counted 24 times), summed over the syncs; a day with such runs but no such rows is 0.
    Not a dry run (it records no row), a retry of the failed rows (it leaves the others, the expected rejections
    too, not attempted), nor a run that stopped early: each would read as a drop to 0."""
    tried_all = (~runs["status"].isin(NOT_A_RESULT) & (runs["error"] == "") & (runs["queried"] > 0)
                 & ~runs["retry"].astype(bool))
    read = runs[tried_all] if not runs.empty else runs
    if trend.empty or read.empty:
        return pd.DataFrame(columns=["cause_id", "label", "day", "rows"])
    read = read.assign(day=local_times(read["started"]).dt.date)
    days = sorted(set(read["day"]))
    last_of_day = set(read.groupby(["sync", "day"])["run"].max())
    trend = trend[trend["run"].isin(last_of_day)]
    frame = trend.assign(day=local_times(trend["started"]).dt.date,
                         label=trend["code"] + ": " + trend["message"].str.slice(0, 60))
    summed = frame.groupby(["cause_id", "label", "day"], as_index=False)["rows"].sum()
    causes = summed[["cause_id", "label"]].drop_duplicates()
    grid = causes.merge(pd.DataFrame({"day": days}), how="cross")
    return grid.merge(summed, on=["cause_id", "label", "day"], how="left").fillna({"rows": 0})


# Runs that are no day's result: a dry run's plan, a run still going, one a change guard stopped. A run that
# stopped early (a fatal error, a cancel, its process gone) has an error; a `failed` run without one tried every
# row and failed on their share.
NOT_A_RESULT = ("planned", "running", "blocked")

REAL, EXPECTED = "real", "expected"
HEADINGS = {REAL: REAL_HEADING, EXPECTED: EXPECTED_HEADING}
TABLES = {REAL: "fr_real", EXPECTED: "fr_expected"}  # each kind's table, by its widget key
PAGE_WIDTH = 940  # px a table has on a 1440 px screen beside the sidebar: the columns read first fit in it
DAYS_SHOWN = 7  # a cause's rows per day in its table: the last week of the range (the chart has every day)


def per_day(daily: pd.DataFrame) -> pd.DataFrame:
    """Per cause: its rows on the last days, as text to read ("586 → 564 → 540"), and the change on the last
    day. Numbers, not a sparkline: a line from 586 to 540 in a cell 30 px high reads as flat."""
    by_cause = daily.sort_values("day").groupby("cause_id")["rows"].apply(lambda r: [int(v) for v in r])
    return pd.DataFrame({
        "per day": by_cause.map(lambda v: ("… " if len(v) > DAYS_SHOWN else "") + " → ".join(
            f"{n:,}" for n in v[-DAYS_SHOWN:])),
        "change": by_cause.map(lambda v: v[-1] - v[-2] if len(v) > 1 else None)}, index=by_cause.index)


def choose_cause(causes: dict[str, pd.DataFrame]) -> str | None:
    """The cause whose rows are listed, from whichever the user touched last: a table (a tick), or the
    dropdown (its own state), or a link (`cause=`). Then each table ticks that cause alone, so a tick left in
    one table never contradicts a choice made elsewhere. Returns a link's `cause` if it names none of these."""
    ids = {kind: list(frame["cause_id"]) for kind, frame in causes.items()}
    for kind, key in TABLES.items():
        ticked = _ticked(key)
        if ticked != st.session_state.get(f"{key}__shown", []):  # the user ticked or unticked in this table
            st.session_state["fr_cause"] = ids[kind][ticked[0]] if ticked and ticked[0] < len(ids[kind]) else None
    options = [c for kind in TABLES for c in ids[kind]]
    bad_link = seed_from_url("fr_cause", "cause", int, options)
    if st.session_state.get("fr_cause") not in options:
        st.session_state.pop("fr_cause", None)  # a cause of another scope
    chosen = st.session_state.get("fr_cause")
    for kind, key in TABLES.items():
        want = [ids[kind].index(chosen)] if chosen in ids[kind] else []
        if ids[kind] and _ticked(key) != want:
            st.session_state[key] = {"selection": {"rows": want, "columns": [], "cells": []}}
        st.session_state[f"{key}__shown"] = want if ids[kind] else []  # an empty table is not drawn
    return bad_link


def _ticked(key: str) -> list[int]:
    state = st.session_state.get(key)
    return list(state["selection"]["rows"]) if state else []


def cause_table(kind: str, causes: pd.DataFrame, daily: pd.DataFrame) -> None:
    """One kind of cause (real or expected): its causes, each with its rows and their change per day. The
    columns fit a laptop's width; the code and example keys are in the run's view and the rows below."""
    with st.container(border=True):
        st.markdown(f"#### {HEADINGS[kind]}: {rows(int(causes['rows'].sum()))}")
        if causes.empty:
            st.caption("None in this scope.")
            return
        days = per_day(daily).reindex(causes["cause_id"])
        shown = pd.DataFrame({
            "rows": causes["rows"].to_numpy(), "message": causes["message"].to_numpy(),
            "class": causes["class"].map(lambda c: CLASS_LABELS.get(c, c)).to_numpy(),
            "per day": days["per day"].fillna("").to_numpy(), "change": days["change"].to_numpy(dtype=float)})
        st.dataframe(shown, key=TABLES[kind], hide_index=True, width="stretch", on_select="rerun",
                     selection_mode="single-row", column_config={
                         "rows": st.column_config.NumberColumn(format="localized", width=70),
                         "message": st.column_config.TextColumn(width=370),
                         "class": st.column_config.TextColumn(width=170),
                         "per day": st.column_config.TextColumn(
                             f"rows per day (last {DAYS_SHOWN})", width=190,
                             help=f"This cause's rows on each of the last {DAYS_SHOWN} days of the dates chosen, "
                                  f"oldest first ({zone_label()}): each sync's last run that day"),
                         "change": st.column_config.NumberColumn(
                             "change", format="%+d", width=80, help="Rows on the last day less the day before")})


CHARTS = "fr_charts"  # the expander of the trends, by its widget key: open or not


def trends(real: pd.DataFrame, expected: pd.DataFrame, daily: pd.DataFrame, marked_day) -> None:
    """Each kind's causes as lines over the days, in an expander: a chart to read when the numbers above
    raise a question, below the rows of a cause rather than between the tables and them. Drawn only once the
    expander is opened (it reruns the page): a closed expander's charts would still cost a new tab the Vega-Lite
    embed and their drawing (docs/benchmarks.md, "In a real browser")."""
    charts_shown = st.expander("Rows per day of each cause, as charts", key=CHARTS, on_change="rerun")
    if not charts_shown.open:
        return
    with charts_shown:
        for kind, frame in ((REAL, real), (EXPECTED, expected)):
            picked = daily[daily["cause_id"].isin(frame["cause_id"])]
            if not picked.empty:
                st.markdown(f"**{HEADINGS[kind]}**")
                st.vega_lite_chart(spec=charts.cause_trend(picked, zone_label(), marked_day, real=kind == REAL),
                                   width="stretch", key=f"{TABLES[kind]}_chart")


def cause_picker(causes: pd.DataFrame) -> int | None:
    by_id = causes.drop_duplicates("cause_id").set_index("cause_id")
    cause_id = st.selectbox("Rows of cause", list(by_id.index), index=None, key="fr_cause",
                            placeholder="Choose a cause (or tick one in a table above) to list its rows",
                            format_func=lambda c: f"{by_id.loc[c, 'message']} ({rows(int(by_id.loc[c, 'rows']))}, "
                                                  f"{CLASS_LABELS.get(by_id.loc[c, 'class'], by_id.loc[c, 'class'])})")
    to_url("cause", cause_id)
    return cause_id


def cause_rows(workspace: Workspace, scope: Scope, cause: pd.Series) -> None:
    """The rows of one cause (a row of the causes table): the keys still failing, with a CSV download."""
    cause_id = int(cause["cause_id"])
    if cause["code"] == NULL_KEY:
        _null_key_rows(workspace, scope, int(cause["rows"]))
        return
    row_scope = scope.rows_of(cause_id)
    frame, total = data.cause_rows(workspace, row_scope)
    where = f"still failing since run {scope.run_id}" if scope.run_id else "not synced as they stand"
    by_key = cause["outcome"] == "invalid"  # a duplicated key: one state row for several model rows
    what = f"{total:,} key{'' if total == 1 else 's'}" if by_key else rows(total)
    st.markdown(f"**{what}** {where}" + (f", first {len(frame):,} shown" if total > len(frame) else ""))
    if by_key:
        st.caption(f"Listed by key: each of these keys is in several rows of the model ({rows(int(cause['rows']))} "
                   "in the table above). None of them is synced until the key is unique in the model.")
    if scope.run_id:
        st.caption(f"The rows of this cause that were failing at run {scope.run_id} and have not synced since (the "
                   "tables above count the run's own rows).")
    if frame.empty:
        st.caption("No rows in this scope: they have synced since, or left the model.")
        return
    zone = zone_label()
    # The rows share the cause's code and class (above): a key, its message and when it was seen fit the page's
    # width; the CSV has every column.
    first, last = f"first seen ({zone})", f"last seen ({zone})"
    shown = pd.DataFrame({"key": frame["key"], first: local_times(frame["first_seen"]).dt.tz_localize(None),
                          last: local_times(frame["last_seen"]).dt.tz_localize(None),
                          "times seen": frame["times_seen"], "message": frame["message"]})
    if not (scope.run_sync_id or scope.sync_id):
        shown.insert(0, "sync", frame["sync"])
    widths = {"sync": 160, "key": 240, first: 135, last: 135, "times seen": 80}
    widths["message"] = max(150, PAGE_WIDTH - sum(widths[c] for c in shown.columns if c in widths))  # the rest
    seen = {"format": "YYYY-MM-DD HH:mm"}
    st.dataframe(shown, hide_index=True, width="stretch", key="fr_rows", column_config={
        "sync": st.column_config.TextColumn(width=widths["sync"]),
        "key": st.column_config.TextColumn(width=widths["key"]),
        first: st.column_config.DatetimeColumn(width=widths[first], **seen),
        last: st.column_config.DatetimeColumn(width=widths[last], **seen),
        "times seen": st.column_config.NumberColumn(width=widths["times seen"],
                                                    help="Runs that found this row failing"),
        "message": st.column_config.TextColumn(width=widths["message"])})
    st.download_button(f"Download all {what} as CSV (times in UTC)",
                       data=lambda: data.cause_rows_csv(str(workspace.state_path), row_scope),
                       file_name=f"cause-{cause_id}-rows.csv", mime="text/csv", icon=":material/download:",
                       on_click="ignore", key="fr_csv")


def _null_key_rows(workspace: Workspace, scope: Scope, count: int) -> None:
    """Rows without a key cannot be listed: no state is kept for them. Say where to find them instead."""
    syncs = [scope.run_sync_id or scope.sync_id] if (scope.run_sync_id or scope.sync_id) else list(workspace.syncs)
    models = dict.fromkeys(workspace.models[workspace.syncs[s].model] for s in syncs if s in workspace.syncs)
    where = (f"in run {scope.run_id}" if scope.run_id else
             "in its latest run" if scope.sync_id else
             "in the latest run of each sync (a model that several syncs read counts once for each)")
    st.markdown(f"**{rows(count)}** with a null or empty primary key {where}")
    st.info("A row without a key cannot be synced, listed or followed from run to run: nothing identifies it. "
            "Find these rows in the warehouse with the query below (a key of spaces, tabs or line breaks counts as "
            "empty), then give each a key, or leave it out of the model.", icon=":material/key_off:")
    for model in models:
        st.caption(f"Model `{model.name}`, on its source `{model.source}`:")
        st.code(null_key_query(workspace, model), language="sql", wrap_lines=True)


def marked_day(scope: Scope, workspace: Workspace):
    if scope.run_id is None:
        return None
    return local_date(data.run_detail(workspace, scope.run_id)[0].started_at)
