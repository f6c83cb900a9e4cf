"""A reconciliation started from the dashboard runs in a process of its own: a Streamlit script thread must not
do long work, and a reload or a closed tab must not stop it. Its progress and its result are in the state store
(the page polls it), its terminal output in a log file beside the reads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ..config import Workspace
from ..destinations.catalog import DESTINATION_TYPES
from .service import READ_FOLDER


def can_read_back(workspace: Workspace, sync_id: str) -> bool:
    """Whether the sync's destination object can be read back (so reconciled), without opening it."""
    sync = workspace.sync(sync_id)
    kind = DESTINATION_TYPES[workspace.destinations[sync.destination].type].objects[sync.object].load()
    return callable(getattr(kind, "read_back", None))


def log_path(workspace: Workspace, sync_id: str) -> Path:
    return workspace.state_dir / READ_FOLDER / f"{sync_id}.log"


def start_in_background(workspace: Workspace, sync_id: str, *, requested_by: str) -> subprocess.Popen:
    """Start `sync-core reconcile SYNC` in a new process (its own session: it outlives the caller's)."""
    workspace.sync(sync_id)
    log = log_path(workspace, sync_id)
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "sync_core.cli", "-w", str(workspace.root), "reconcile", sync_id, "--json",
               "--requested-by", requested_by]
    with open(log, "wb") as out:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
