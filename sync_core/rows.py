"""A planned row: what the planner hands the destinations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PlannedRow:
    key: str
    operation: str  # added | changed | retried; removed | withdrawn: a member leaving a set (base.Membership)
    row_hash: str
    match_value: Any
    values: dict[str, Any]  # destination field -> value (None = null)
    prev_cause: int | None = None  # the cause of the row's current rejection, if it has one
