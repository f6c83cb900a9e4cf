"""sync_core: the reverse-ETL engine and its domain. What is exported here is what most callers need; the
dashboard's views also read the domain modules that answer its questions (control, sync_status, history,
mqr_report, reconcile), never Streamlit-side copies of their rules."""

from .alerts.settings import AlertSettings
from .config import SyncConfig, Workspace, load_workspace
from .counts import OPERATIONS, OUTCOMES, RunCounts, invariant_violations
from .errors import (ConfigError, DestinationError, ModelError, StateDamaged, StateStoreError, StateUnwritable,
                     SyncCoreError, WorkspaceBusyError)
from .outcomes import ERROR_CLASSES
from .progress import RunObserver, SilentObserver
from .runner import run_sync
from .schedules import Schedule
from .secrets import redact
from .state import AlertRecord, CauseSummary, DeliveryRecord, RejectionRecord, RunRecord, StateStore

__all__ = [
    "AlertRecord", "AlertSettings", "Alerts", "CauseSummary", "ConfigError", "DeliveryRecord", "DestinationError",
    "ERROR_CLASSES", "ModelError", "OPERATIONS", "OUTCOMES", "RejectionRecord", "RunCounts", "RunObserver",
    "RunRecord", "Schedule", "SilentObserver", "StateDamaged", "StateStore", "StateStoreError", "StateUnwritable",
    "SyncConfig",
    "SyncCoreError", "Workspace", "WorkspaceBusyError", "invariant_violations", "load_workspace", "redact", "run_sync",
]


def __getattr__(name: str):
    """`Alerts` is imported when first asked for: a `sync-core run` never needs it (nor its HTTP and SMTP
    channels), and every CLI command pays for what this module imports."""
    if name == "Alerts":
        from .alerts.monitor import Alerts
        return Alerts
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
