"""Source-versus-destination reconciliation: every field of every row, read back from the destination."""

from .background import can_read_back, log_path, start_in_background
from .report import CHANGED_SINCE, NOT_YET_SYNCED, STATE_WORDS, SYNCED_MISSING, Difference, FieldMatch, Funnel, Report
from .service import ReconcileError, reconcile

__all__ = ["CHANGED_SINCE", "NOT_YET_SYNCED", "STATE_WORDS", "SYNCED_MISSING", "Difference", "FieldMatch", "Funnel",
           "ReconcileError", "Report", "can_read_back", "log_path", "reconcile",
           "start_in_background"]
