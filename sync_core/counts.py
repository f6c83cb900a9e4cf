"""A run's counts and the invariant they keep (DESIGN.md, Decisions):

    queried = invalid + unchanged + (planned - removed)
    planned = added + changed + removed + retried
    planned = synced + rejected_expected + rejected_other + failed + not_attempted

`removed` rows are keys of the snapshot the model no longer returns: they are planned (they leave the
snapshot) but were not in the query's result, so they are taken out of the first identity. Their
outcome is `synced` once they have left the snapshot; nothing is deleted in the destination.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OPERATIONS = ("added", "changed", "removed", "retried")
OUTCOMES = ("synced", "rejected_expected", "rejected_other", "failed", "not_attempted")


def _empty() -> dict[str, dict[str, int]]:
    return {op: {outcome: 0 for outcome in OUTCOMES} for op in OPERATIONS}


@dataclass
class RunCounts:
    queried: int = 0
    invalid: int = 0
    unchanged: int = 0
    by_operation: dict[str, dict[str, int]] = field(default_factory=_empty)

    def plan(self, operation: str, rows: int) -> None:
        """Rows planned for an operation start as not attempted; outcomes move them on."""
        self.by_operation[operation]["not_attempted"] += rows

    def settle(self, operation: str, outcome: str, rows: int = 1) -> None:
        cell = self.by_operation[operation]
        if cell["not_attempted"] < rows:
            raise ValueError(f"settling {rows} {operation} rows as {outcome}: only {cell['not_attempted']} pending")
        cell["not_attempted"] -= rows
        cell[outcome] += rows

    def operation(self, op: str) -> int:
        return sum(self.by_operation[op].values())

    def outcome(self, outcome: str) -> int:
        return sum(cell[outcome] for cell in self.by_operation.values())

    @property
    def planned(self) -> int:
        return sum(self.operation(op) for op in OPERATIONS)

    @property
    def real_rows(self) -> int:
        """Rows that need someone: invalid keys, real rejections, and failures (not expected rejections)."""
        return self.invalid + self.outcome("rejected_other") + self.outcome("failed")

    def status(self, failure_threshold: float) -> str:
        """healthy, warning or failed (a run that finished). Failed writes are a share of the rows planned, and
        invalid keys a share of the rows queried: those repeat in every run, so over the planned rows alone
        they would fail a rerun that had nothing else to do."""
        if not self.real_rows:
            return "healthy"
        failed_writes = (self.outcome("rejected_other") + self.outcome("failed")) / max(1, self.planned)
        invalid_keys = self.invalid / max(1, self.queried)
        return "failed" if max(failed_writes, invalid_keys) > failure_threshold else "warning"

    def as_dict(self) -> dict[str, int]:
        flat = {"queried": self.queried, "invalid": self.invalid, "unchanged": self.unchanged,
                "planned": self.planned}
        flat.update({op: self.operation(op) for op in OPERATIONS})
        flat.update({outcome: self.outcome(outcome) for outcome in OUTCOMES})
        return flat

    @classmethod
    def from_dict(cls, flat: dict, by_operation: dict) -> "RunCounts":
        counts = cls(flat.get("queried", 0), flat.get("invalid", 0), flat.get("unchanged", 0))
        for op, cell in by_operation.items():
            counts.by_operation[op].update(cell)
        return counts


def invariant_violations(c: dict[str, int]) -> list[str]:
    """The identities a flat counts dict breaks (empty when it is consistent)."""
    problems = []
    lhs = c["invalid"] + c["unchanged"] + c["planned"] - c["removed"]
    if c["queried"] != lhs:
        problems.append(f"queried {c['queried']} != invalid + unchanged + planned - removed = {lhs}")
    ops = sum(c[op] for op in OPERATIONS)
    if c["planned"] != ops:
        problems.append(f"planned {c['planned']} != added + changed + removed + retried = {ops}")
    outs = sum(c[o] for o in OUTCOMES)
    if c["planned"] != outs:
        problems.append(f"planned {c['planned']} != synced + rejected + failed + not_attempted = {outs}")
    return problems
