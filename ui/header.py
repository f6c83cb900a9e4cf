"""The sidebar's header: which workspace this is (and why), MQR this period, and the display time zone."""

from __future__ import annotations

import streamlit as st

from sync_core import SyncCoreError, load_workspace
from ui import data
from ui.context import WorkspaceChoice, workspace_file_exists
from ui.formatting import zone_label


def workspace_header(choice: WorkspaceChoice) -> None:
    """Drawn before the page; a problem here is a short note, the page itself explains it and what to do."""
    with st.sidebar:
        try:
            workspace = load_workspace(choice.path)
        except SyncCoreError:
            state = "A workspace that could not be opened" if workspace_file_exists(choice.path) else "No workspace"
            st.caption(f"{state} at `{choice.path}` (chosen by {choice.source}).")
            return
        st.markdown(f"### {workspace.name}")
        st.caption(f"Workspace `{workspace.root}`, chosen by {choice.source}.")
        try:
            usage = data.mqr_usage(workspace)
        except Exception as exc:  # the page reads the same store and shows the error with its next step
            st.caption(f"MQR usage could not be read ({type(exc).__name__}).")
            return
        demo = workspace.mqr_demo_scaled
        st.metric("MQR this period (demo scale)" if demo else "MQR this period", f"{usage.used:,}", help=(
            f"Distinct records queried since {usage.period_start:%Y-%m-%d} (billing period start), across "
            f"entities; the limit is [mqr] limit in {workspace.file.name}."))
        st.progress(min(1.0, usage.share), text=f"{usage.share:.0%} of {usage.limit:,}")
        if demo:
            st.caption("Demo workspace on the Iterable sandbox: nothing is billed. `sync-core up` scales the "
                       "demo's MQR limit to its size (the seed's plan is 1.5M) so usage reads as on a real plan.")
        st.caption(f"Times are shown in {zone_label()}.")
