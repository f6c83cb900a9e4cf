"""Runs: what ran, when, and what it did."""

import pandas as pd
import streamlit as st

from sync_core import StateStore, invariant_violations
from ui.context import current_workspace


def runs_frame(runs) -> pd.DataFrame:
    rows = []
    for r in runs:
        c = r.counts.as_dict()
        rows.append({"run": r.id, "sync": r.sync_id, "status": r.status, "trigger": r.trigger,
                     "started (UTC)": r.started_at, "finished (UTC)": r.finished_at, "queried": c["queried"],
                     "planned": c["planned"], "synced": c["synced"], "expected rejections": c["rejected_expected"],
                     "real rejections": c["rejected_other"] + c["invalid"], "failed": c["failed"],
                     "not attempted": c["not_attempted"], "counts add up": not invariant_violations(c),
                     "error": r.error or ""})
    return pd.DataFrame(rows)


workspace = current_workspace()
st.title("Runs")
with StateStore(workspace.state_path) as store:
    runs = store.list_runs(limit=500)

if not runs:
    first = next(iter(workspace.syncs), "SYNC")
    st.info(f"No runs yet. Run a sync from a terminal: `sync-core -w {workspace.root} run {first}`.")
    st.stop()

latest = {}
for r in runs:
    latest.setdefault(r.sync_id, r)
for column, sync in zip(st.columns(max(1, len(workspace.syncs))), workspace.syncs.values()):
    last = latest.get(sync.id)
    column.metric(sync.name, last.status.upper() if last else "NEVER RUN",
                  help=f"Sync `{sync.id}`: {sync.object}, {sync.mode} mode, {sync.schedule}")

st.dataframe(runs_frame(runs), hide_index=True, width="stretch")
