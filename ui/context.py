"""Which workspace the dashboard shows (explicit: an argument or an environment variable), and its header."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

import streamlit as st

from sync_core import SyncCoreError, Workspace, load_workspace
from sync_core.config import WORKSPACE_ENV, workspace_file
from ui.errors import problem

DEFAULT_DIR = "demo-workspace"


@dataclass(frozen=True)
class WorkspaceChoice:
    path: str
    source: str  # how it was chosen, shown in the header


def workspace_choice() -> WorkspaceChoice:
    """`streamlit run app.py -- --workspace DIR`, else $SYNC_CORE_WORKSPACE, else ./demo-workspace."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--workspace")
    args, _ = parser.parse_known_args(sys.argv[1:])
    if args.workspace:
        return WorkspaceChoice(args.workspace, "the --workspace argument")
    if os.environ.get(WORKSPACE_ENV):
        return WorkspaceChoice(os.environ[WORKSPACE_ENV], f"${WORKSPACE_ENV}")
    return WorkspaceChoice(DEFAULT_DIR, "the default folder (no --workspace argument or $" + WORKSPACE_ENV + ")")


def workspace_dir() -> str:
    return workspace_choice().path


def workspace_file_exists(path: str) -> bool:
    """Whether there is a workspace.toml to fix (else there is no workspace at all)."""
    return workspace_file(path).is_file()


def current_workspace() -> Workspace:
    """The workspace (read on every run: it takes a millisecond), or a clear error and a stop of this run."""
    choice = workspace_choice()
    try:
        return load_workspace(choice.path)
    except SyncCoreError as exc:
        if workspace_file_exists(choice.path):
            problem(f"**The workspace could not be opened.** {exc}",
                    "Fix workspace.toml where the message says, then reload this page "
                    f"(`sync-core -w {choice.path} syncs` checks it from a terminal).")
        else:
            problem(f"**The workspace could not be opened.** {exc}",
                    "Create the demo with `sync-core up`, or point the app at a workspace: "
                    "`streamlit run app.py -- --workspace DIR` (or set $" + WORKSPACE_ENV + ").")
        st.stop()
