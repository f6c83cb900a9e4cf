"""A run's counts and the invariant they keep (docs/architecture.md, The count invariant):

    queried = invalid + unchanged + (planned - removed)
    planned = added + changed + removed + retried
    planned = synced + rejected_expected + rejected_other + failed + not_attempted

`removed` rows are keys of the snapshot the model no longer returns: they are planned (they leave the
snapshot) but were not in the query's result, so they are taken out of the first identity. Their
outcome is `synced` once they have left the snapshot; nothing is deleted in the destination.

`repeated_expected` and `repeated_other` are retried rows rejected again for the same cause as before:
standing problems, not news. They are part of the rejected outcomes above, not a term of their own.
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
    repeated_expected: int = 0  # of rejected_expected: rejected again for the same cause as before
    repeated_other: int = 0  # of rejected_other: likewise

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

    def repeat(self, outcome: str, rows: int = 1) -> None:
        """Rows already settled as `outcome` were rejected again for the same cause as before."""
        if outcome == "rejected_expected":
            self.repeated_expected += rows
        elif outcome == "rejected_other":
            self.repeated_other += rows

    def status(self, failure_threshold: float) -> str:
        """healthy, warning or failed (a run that finished), from what the run learned, over two shares:

        - new problems: real rejections and failures, less the standing ones (rows rejected again for the same
          cause as before), as a share of the planned rows less those standing ones. A rerun that only meets
          yesterday's invalid emails again learns nothing new, so it is not failed for them.
        - all problems: invalid keys, real rejections and failures, as a share of the rows queried: how much of
          the model is wrong, which a rerun reports as the first run did.
        Either over the threshold is `failed`; any real problem is at least `warning`."""
        if not self.real_rows:
            return "healthy"
        real_writes = self.outcome("rejected_other") + self.outcome("failed")
        new_problems = (real_writes - self.repeated_other) / max(1, self.planned - self.repeated_other)
        all_problems = (self.invalid + real_writes) / max(1, self.queried)
        return "failed" if max(new_problems, all_problems) > failure_threshold else "warning"

    def as_dict(self) -> dict[str, int]:
        flat = {"queried": self.queried, "invalid": self.invalid, "unchanged": self.unchanged,
                "planned": self.planned}
        flat.update({op: self.operation(op) for op in OPERATIONS})
        flat.update({outcome: self.outcome(outcome) for outcome in OUTCOMES})
        return flat

    def standing(self) -> dict[str, int]:
        """The rejected rows that repeat an earlier run's rejection, for the same cause."""
        return {"repeated_expected": self.repeated_expected, "repeated_other": self.repeated_other}

    @classmethod
    def from_dict(cls, flat: dict, by_operation: dict) -> "RunCounts":
        counts = cls(flat.get("queried", 0), flat.get("invalid", 0), flat.get("unchanged", 0),
                     repeated_expected=flat.get("repeated_expected", 0), repeated_other=flat.get("repeated_other", 0))
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
