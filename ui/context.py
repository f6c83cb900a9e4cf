"""Which workspace the dashboard shows, and how errors reach the user (with a next step, never a traceback)."""

from __future__ import annotations

import argparse
import os
import sys

import streamlit as st

from sync_core import SyncCoreError, Workspace, load_workspace

WORKSPACE_ENV = "SYNC_CORE_WORKSPACE"


def workspace_dir() -> str:
    """`streamlit run app.py -- --workspace DIR`, else $SYNC_CORE_WORKSPACE, else ./demo-workspace."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--workspace")
    args, _ = parser.parse_known_args(sys.argv[1:])
    return args.workspace or os.environ.get(WORKSPACE_ENV) or "demo-workspace"


def current_workspace() -> Workspace:
    """The workspace, or a clear error and a stop of this page's run."""
    try:
        return load_workspace(workspace_dir())
    except SyncCoreError as exc:
        st.error(f"**The workspace could not be opened.** {exc}")
        st.info("Create the demo with `sync-core up`, or point the app at a workspace: "
                "`streamlit run app.py -- --workspace DIR`.")
        st.stop()
