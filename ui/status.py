"""The answer to "did last night's syncs work": one tile per sync with its last run."""

from __future__ import annotations

import streamlit as st

from sync_core import RunRecord, Workspace
from ui.formatting import local_text, zone_label


def last_runs(workspace: Workspace, latest: dict[str, RunRecord]) -> None:
    ids = list(workspace.syncs) + [s for s in latest if s not in workspace.syncs]
    for column, sync_id in zip(st.columns(max(1, len(ids))), ids):
        sync = workspace.syncs.get(sync_id)
        name = sync.name if sync else f"{sync_id} (not in workspace.toml)"
        run = latest.get(sync_id)
        with column.container(border=True):
            if run is None:
                st.metric(name, "NEVER RUN", help=f"Sync `{sync_id}`")
                st.caption(f"Run it: `sync-core run {sync_id}`")
                continue
            st.metric(name, run.status.upper(), help=f"Sync `{sync_id}`, run {run.id}")
            c = run.counts.as_dict()
            st.caption(f"Run {run.id}, {local_text(run.started_at)} ({zone_label()}): "
                       f"{c.get('synced', 0):,} synced, {c.get('rejected_expected', 0):,} expected, "
                       f"{run.counts.real_rows:,} real")
            st.page_link("pages/run.py", label="Open", icon=":material/arrow_forward:", query_params={"run": run.id})
