"""Planned rows: what the planner hands the destinations, one object per row (PlannedRow) or a batch of them as
Arrow columns (RowColumns, the hot path: no object per row unless a rare path asks for one)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from .arrow_values import int64s, repeated, strings


@dataclass(frozen=True)
class PlannedRow:
    key: str
    operation: str  # added | changed | retried; removed | withdrawn: a member leaving a set (base.Membership)
    row_hash: str
    match_value: Any
    values: dict[str, Any]  # destination field -> value (None = null)
    prev_cause: int | None = None  # the cause of the row's current rejection, if it has one


# The columns of RowColumns, as PlannedRow names its fields; `part` is the row's encoded request part.
ROW_COLUMNS = ("key", "operation", "row_hash", "match_value", "prev_cause")
PART = "part"


class RowColumns(Sequence[PlannedRow]):
    """A batch of planned rows as Arrow columns (ROW_COLUMNS and, for a destination that encodes column-wise
    (destinations.base.ColumnEncoding), each row's request part, already encoded). It reads as a sequence of
    PlannedRow, made on demand and without values, for the paths that take rows one by one (rejections, a batch
    split in halves); the hot path reads whole columns (`column`, `parts`, `part_bytes`)."""

    def __init__(self, batch: pa.RecordBatch):
        self.batch = batch
        self._lists: dict[str, list] = {}

    def column(self, name: str) -> list:
        """A column as a Python list (converted once)."""
        if name not in self._lists:
            self._lists[name] = self.batch.column(name).to_pylist()
        return self._lists[name]

    @property
    def parts(self) -> list[str]:
        return self.column(PART)

    def part_bytes(self) -> list[int]:
        """Each part's size in UTF-8 bytes (what a request's size limit counts)."""
        return pc.binary_length(self.batch.column(PART)).to_pylist()

    def __len__(self) -> int:
        return self.batch.num_rows

    def __getitem__(self, index):
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                raise ValueError("RowColumns slices are contiguous")
            return RowColumns(self.batch.slice(start, max(0, stop - start)))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return PlannedRow(*(self.column(c)[index] for c in ROW_COLUMNS[:4]), {}, self.column("prev_cause")[index])

    def __iter__(self) -> Iterator[PlannedRow]:
        for values in zip(*(self.column(c) for c in ROW_COLUMNS)):
            yield PlannedRow(*values[:4], {}, values[4])


def row_columns(rows: Sequence[PlannedRow]) -> tuple[list[str], list[str], Counter]:
    """(keys, hashes, rows per operation) of rows, read as whole columns when they are RowColumns."""
    if isinstance(rows, RowColumns):
        counted = pc.value_counts(rows.batch.column("operation")).to_pylist()
        return rows.column("key"), rows.column("row_hash"), Counter({c["values"]: c["counts"] for c in counted})
    return [r.key for r in rows], [r.row_hash for r in rows], Counter(r.operation for r in rows)


def leaving_rows(keys: list[str], operations: list[str]) -> RowColumns:
    """Rows leaving a destination's set (base.Membership: operation `removed` or `withdrawn`), known by their keys
    alone (no hash, no identifier: the destination knows each member's), as RowColumns without parts."""
    return RowColumns(pa.record_batch({
        "key": strings(keys), "operation": strings(operations),
        "row_hash": repeated("", len(keys)), "match_value": pa.nulls(len(keys), pa.string()),
        "prev_cause": pa.nulls(len(keys), pa.int64())}))


def column_of(rows: Sequence[PlannedRow], name: str) -> list:
    """One field of every row (a name of ROW_COLUMNS), read as a whole column when the rows are RowColumns."""
    return rows.column(name) if isinstance(rows, RowColumns) else [getattr(row, name) for row in rows]


def taken(rows: Sequence[PlannedRow], indices: list[int]) -> Sequence[PlannedRow]:
    """The rows at `indices` (ascending, each once), kept as columns when they are RowColumns; all of them are
    the rows themselves."""
    if len(indices) == len(rows):
        return rows
    if isinstance(rows, RowColumns):
        return RowColumns(rows.batch.take(int64s(indices)))
    return [rows[i] for i in indices]


def joined(first: Sequence[PlannedRow], second: Sequence[PlannedRow]) -> Sequence[PlannedRow]:
    """Two sequences of rows as one, kept as columns when both are (and either may be empty)."""
    if not second:
        return first
    if not first:
        return second
    if isinstance(first, RowColumns) and isinstance(second, RowColumns):
        table = pa.Table.from_batches([first.batch.select(ROW_COLUMNS), second.batch.select(ROW_COLUMNS)])
        return RowColumns(table.combine_chunks().to_batches()[0])
    return list(first) + list(second)
