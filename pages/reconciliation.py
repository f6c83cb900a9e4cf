"""Reconciliation: does the destination still hold what the sync sent? Every field of every row, compared."""

import streamlit as st

from sync_core.reconcile import can_read_back
from ui import frame, reconciliation
from ui.access import access
from ui.context import current_workspace
from ui.errors import empty
from ui.filters import sync_label
from ui.formatting import local_text

frame.require_app()

workspace = current_workspace()
st.title("Reconciliation")
syncs = [s for s in workspace.syncs if can_read_back(workspace, s)]
if not syncs:
    empty("No sync of this workspace writes to a destination that can be read back yet (Iterable users and "
          "events, and Marketo custom activities, can).", "Add an Iterable users or events sync, or a Marketo "
          "activities sync, to workspace.toml.")
    st.stop()
sync_id = st.selectbox("Sync", syncs, format_func=lambda s: sync_label(workspace, s), key="reconcile_sync")
if not reconciliation.has_run(workspace, sync_id):
    empty(f"{sync_label(workspace, sync_id)} has never run, so nothing says what its destination should hold.",
          f"Run it first: `sync-core -w {workspace.root} run {sync_id}` (or **Run now** on the Syncs page).")
    st.stop()
viewer = access(workspace)
past = reconciliation.history(workspace, sync_id)  # read once: the progress panel reads it again as it ticks
running = next((r for r in past if r.status == "running"), None)
reconciliation.start(workspace, sync_id, viewer, running)
reconciliation.progress(workspace, sync_id, running)

records = [r for r in past if r.status != "running"]
if not records and (running is not None or "reconciliation_process" in st.session_state):
    st.stop()  # its first is starting or running: the panel above says so, and the page shows its report then
if not records:
    empty("No reconciliation of this sync yet.",
          f"Start one above, or from a terminal: `sync-core -w {workspace.root} reconcile {sync_id}`.")
    st.stop()
chosen = st.selectbox("Report", records, format_func=lambda r: f"#{r.id} · {r.status} · {local_text(r.started_at)}",
                      key="reconcile_report")
reconciliation.report(workspace, chosen)
reconciliation.resend(workspace, chosen, viewer)
reconciliation.mismatches(workspace, chosen)
st.subheader("History")
reconciliation.history_table(records)
