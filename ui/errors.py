"""One way to show a problem: what happened, and the next step. Never a raw traceback."""

from __future__ import annotations

import logging
import sqlite3

import streamlit as st

from sync_core import StateStoreError, SyncCoreError, redact

log = logging.getLogger("sync_core.dashboard")


def problem(what: str, next_step: str) -> None:
    st.error(what, icon=":material/error:")
    st.info(f"**Next step:** {next_step}", icon=":material/arrow_forward:")


def empty(what: str, next_step: str) -> None:
    """Nothing to show yet: say so, and what to do to get something."""
    st.info(f"{what}\n\n**Next step:** {next_step}", icon=":material/info:")


def unexpected(exc: Exception, workspace_dir: str) -> None:
    """A page failed: the message and what to try, with the traceback in the server's log only."""
    log.exception("dashboard page failed")
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        problem("**The state store is busy:** another process held a write lock for longer than 30 s.",
                "Reload the page in a few seconds. If it stays busy, check for a stuck run with "
                f"`sync-core -w {workspace_dir} runs`.")
    elif isinstance(exc, StateStoreError):  # damaged, or cannot be written: the way back is in the terminal
        problem(f"**This page failed:** {exc.summary}.",
                f"{exc.next_step} Give each command `-w {workspace_dir}`; `sync-core -w {workspace_dir} runs` "
                "shows whether the state store reads.")
    elif isinstance(exc, SyncCoreError):
        problem(f"**{redact(str(exc))}**", f"Fix what the message names, then reload. `sync-core -w {workspace_dir} syncs` "
                "checks the workspace from a terminal.")
    else:
        problem(f"**This page failed:** {type(exc).__name__}: {redact(str(exc))}",
                "Reload the page. If it fails again, the full traceback is in the terminal running the "
                f"dashboard; `sync-core -w {workspace_dir} runs` shows whether the state store reads.")
