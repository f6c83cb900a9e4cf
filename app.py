"""The dashboard: what ran and what it did. Start it with `sync-core up`, or on an existing workspace with
`streamlit run app.py -- --workspace DIR` (or SYNC_CORE_WORKSPACE=DIR streamlit run app.py)."""

from __future__ import annotations

import argparse
import os
import sys

import pandas as pd
import streamlit as st

from sync_core import SyncCoreError, StateStore, invariant_violations, load_workspace

st.set_page_config(page_title="Sync operations", page_icon=":material/sync_alt:", layout="wide")


def workspace_dir() -> str:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspace")
    args, _ = parser.parse_known_args(sys.argv[1:])
    return args.workspace or os.environ.get("SYNC_CORE_WORKSPACE") or "demo-workspace"


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


try:
    workspace = load_workspace(workspace_dir())
except SyncCoreError as exc:
    st.error(f"**The workspace could not be opened.** {exc}")
    st.info("Create the demo with `sync-core up`, or point the app at a workspace: "
            "`streamlit run app.py -- --workspace DIR`.")
    st.stop()

st.title(workspace.name)
st.caption(f"Workspace `{workspace.root}` · {len(workspace.syncs)} syncs")

with StateStore(workspace.state_path) as store:
    runs = store.list_runs(limit=500)

if not runs:
    st.info("No runs yet. Run a sync from a terminal: `sync-core -w "
            f"{workspace.root} run {next(iter(workspace.syncs), 'SYNC')}`.")
    st.stop()

latest = {}
for r in runs:
    latest.setdefault(r.sync_id, r)
columns = st.columns(max(1, len(workspace.syncs)))
for column, sync in zip(columns, workspace.syncs.values()):
    last = latest.get(sync.id)
    column.metric(sync.name, last.status.upper() if last else "NEVER RUN",
                  help=f"Sync `{sync.id}`: {sync.object}, {sync.mode} mode, {sync.schedule}")

st.subheader("Runs")
st.dataframe(runs_frame(runs), hide_index=True, width="stretch")
