"""Failed rows: why rows are not synced, expected versus real, over time; a cause's rows; one record's story."""

import streamlit as st

from ui import data, failures, frame
from ui.context import current_workspace
from ui.errors import empty, problem
from ui.filters import sync_label
from ui.formatting import rows
from ui.lookup import record_search

frame.require_app()

workspace = current_workspace()
st.title("Failed rows")
link_problems = st.container()  # a link that names what is not there is said first, where it is seen
with st.container(border=True):
    record_search(workspace)

facets = data.facets(workspace)
if not facets.runs:
    empty("No runs yet, so no failed rows.",
          f"Run a sync: `sync-core -w {workspace.root} run {next(iter(workspace.syncs), 'SYNC')}`.")
    st.stop()

scope = failures.scope_filters(workspace, facets, link_problems)
if scope.sync_id and scope.sync_id not in facets.sync_ids:
    empty(f"{sync_label(workspace, scope.sync_id)} has never run, so it has no failed rows.",
          f"Run it: `sync-core -w {workspace.root} run {scope.sync_id}`.")
    st.stop()

causes = data.causes_frame(workspace, sync_id=scope.sync_id, run_id=scope.run_id, error_class=scope.error_class)
expected, real = failures.split(causes)
failures.totals(real, expected, scope)
if causes.empty:
    of_class = f" of class {scope.error_class}" if scope.error_class else ""
    empty(f"No failed rows{of_class} in run {scope.run_id}." if scope.run_id else f"No rows{of_class} are failing now.",
          "Nothing to fix here. Widen the filters to see other runs, or open Run history.")
    st.stop()

runs_in_range = data.runs_frame(workspace, scope.runs())
daily = failures.daily_trend(data.trend_frame(workspace, scope.runs(), scope.error_class), runs_in_range)
bad_cause = failures.choose_cause({failures.REAL: real, failures.EXPECTED: expected})
if bad_cause is not None:
    with link_problems:
        problem(f"This link names a cause `{bad_cause}` that has no failed rows in this scope.",
                "Choose a cause under **Rows of a cause** below, or tick one in a table.")
failures.cause_table(failures.REAL, real, daily)
failures.cause_table(failures.EXPECTED, expected, daily)

st.subheader("Rows of a cause")
cause_id = failures.cause_picker(causes)
if cause_id is not None:
    failures.cause_rows(workspace, scope, causes[causes["cause_id"] == cause_id].iloc[0])
else:
    st.caption(f"{len(causes)} causes, {rows(int(causes['rows'].sum()))} in all.")

failures.trends(real, expected, daily, failures.marked_day(scope, workspace))
