"""Run history, row outcomes, snapshots and the MQR ledger (SQLite in the workspace)."""

from .store import CauseSummary, RejectionRecord, RunRecord, StateStore

__all__ = ["CauseSummary", "RejectionRecord", "RunRecord", "StateStore"]
