"""Syncs: each sync's definition, schedule and next run, the buttons that run it (for operators), and its run in
progress as it happens. Runs are done by a worker (`sync-core worker`), never by this page."""

import streamlit as st

from ui import frame
from ui.access import access
from ui.context import current_workspace
from ui.errors import empty, problem
from ui.filters import sync_label
from ui.sync_control import alerts, board, buttons, definition, live, overdue, worker_state

frame.require_app()

workspace = current_workspace()
st.title("Syncs")
if not workspace.syncs:
    empty("This workspace has no syncs.", f"Declare one under `[syncs.ID]` in {workspace.file}.")
    st.stop()

asked = st.query_params.get("sync")
if asked is not None and asked not in workspace.syncs:  # said first: the page below shows another sync
    problem(f"This link names a sync `{asked}` that this workspace does not have.",
            f"Showing {sync_label(workspace, next(iter(workspace.syncs)))}: pick a sync below. The syncs are "
            f"declared in {workspace.file.name}.")

statuses, workers = board(workspace)
worker_running = worker_state(workspace, workers)
overdue(statuses)

ids = [s.sync.id for s in statuses]
chosen = st.selectbox("Sync", ids, index=ids.index(asked) if asked in ids else 0,
                      format_func=lambda s: sync_label(workspace, s), key="syncs_sync")
st.query_params["sync"] = chosen
status = next(s for s in statuses if s.sync.id == chosen)
definition(workspace, status)

who = access(workspace)
if who.may_run:
    buttons(workspace, status, who, worker_running)
else:
    st.info(who.why_not, icon=":material/lock:")
    if who.signed_out:
        st.button("Sign in", on_click=st.login)
live(workspace, status, who)
alerts(workspace, chosen)
