"""Run history: did each sync's last run work, and what every run did over time."""

import streamlit as st

from sync_core.history import RUN_STATUSES, RunFilter
from ui import data, frame, tables, timeline
from ui.context import current_workspace
from ui.errors import empty
from ui.filters import date_range, sync_ids, sync_label
from ui.formatting import zone_label
from ui.status import last_runs

frame.require_app()

workspace = current_workspace()
st.title("Run history")
facets = data.facets(workspace)
if not facets.runs:
    first = next(iter(workspace.syncs), "SYNC")
    empty("No runs yet in this workspace.",
          f"Run a sync from a terminal: `sync-core -w {workspace.root} run {first}`. On the demo, "
          "`sync-core up` builds a few days of history on its first start.")
    st.stop()

last_runs(workspace, data.latest_runs(workspace))

syncs, statuses, triggers, dates = st.columns([3, 2, 2, 3])  # the dates whole at a laptop's width
chosen_syncs = syncs.multiselect("Syncs", sync_ids(workspace, facets), format_func=lambda s: sync_label(workspace, s),
                                 placeholder="All syncs", key="runs_syncs")
chosen_statuses = statuses.multiselect("Status", RUN_STATUSES, placeholder="Any status", key="runs_statuses")
chosen_triggers = triggers.multiselect("Trigger", facets.triggers, placeholder="Any trigger", key="runs_triggers")
with dates:
    since, until = date_range(facets, "runs_dates")
where = RunFilter(tuple(chosen_syncs), tuple(chosen_statuses), tuple(chosen_triggers), since, until)
frame = data.runs_frame(workspace, where)

never_run = [s for s in chosen_syncs if s not in facets.sync_ids]
if never_run:
    empty(f"{', '.join(sync_label(workspace, s) for s in never_run)} has never run.",
          f"Run it from a terminal: `sync-core -w {workspace.root} run {never_run[0]}`.")
if frame.empty:
    if not never_run:
        empty("No runs match these filters.", "Widen the date range, or clear a filter.")
    st.stop()

st.html(timeline.runs_timeline(frame, zone_label()))
st.caption(f"{len(frame):,} runs. Select one to open it.")
picked = tables.runs_table(frame, key="runs_table")
if picked is not None:
    left, right = st.columns(2)
    left.page_link("pages/run.py", label=f"Open run {picked}", icon=":material/receipt_long:",
                   query_params={"run": picked})
    right.page_link("pages/failed_rows.py", label=f"Failed rows of run {picked}", icon=":material/report:",
                    query_params={"run": picked})
