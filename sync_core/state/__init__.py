"""Run history, row outcomes, snapshots and the MQR ledger (SQLite in the workspace)."""

from .run_log import RunRecord
from .store import CauseSummary, RejectionRecord, StateStore

__all__ = ["CauseSummary", "RejectionRecord", "RunRecord", "StateStore"]
