"""Run history, row outcomes, snapshots and the MQR ledger (SQLite in the workspace)."""

from .alert_log import AlertRecord, DeliveryRecord
from .run_log import RunRecord
from .store import CauseRows, CauseSummary, RejectionRecord, StateStore

__all__ = ["AlertRecord", "CauseRows", "CauseSummary", "DeliveryRecord", "RejectionRecord", "RunRecord",
           "StateStore"]
