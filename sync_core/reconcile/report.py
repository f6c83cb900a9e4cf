"""What a reconciliation found: the funnel, the per-field matches, the rows that differ and the rows missing.

The summary (everything but the rows) is what the state store keeps as JSON; the rows are kept beside it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

CHANGED_SINCE = "changed_since_sent"  # the snapshot says the model's value was sent: someone changed it since
NOT_YET_SYNCED = "not_yet_synced"  # the model's value was never confirmed sent (changed since the last run)
SYNCED_MISSING = "synced_missing"  # the snapshot says synced, the destination has no such record
STATE_WORDS = {CHANGED_SINCE: "changed in the destination since", NOT_YET_SYNCED: "not yet synced",
               SYNCED_MISSING: "synced, missing in the destination (deleted, merged or forgotten)"}


@dataclass(frozen=True)
class Funnel:
    model_rows: int  # rows the model returned
    valid_keys: int  # of them, rows with a valid, unique key
    in_snapshot: int  # of them, keys the snapshot says the destination confirmed
    present: int  # of the valid rows, those the destination holds
    destination_records: int  # records read back from the destination
    unknown_to_model: int  # of them, records no model row names
    duplicates: int | None = None  # of them, earlier records of synced rows (ReadBackByRecordId), else None


@dataclass(frozen=True)
class FieldMatch:
    field: str
    compared: int  # rows present in the destination that were compared
    matching: int

    @property
    def share(self) -> float:
        return self.matching / self.compared if self.compared else 1.0


@dataclass(frozen=True)
class Difference:
    key: str
    field: str
    model_value: str | None
    destination_value: str | None  # as the destination's JSON (text quoted), None when absent
    state: str  # CHANGED_SINCE | NOT_YET_SYNCED
    note: str | None = None  # a type difference (a number stored as text)


@dataclass
class Report:
    sync_id: str
    reconciliation_id: int
    status: str  # complete | partial
    funnel: Funnel
    fields: list[FieldMatch]
    differing_rows: int  # distinct keys with at least one differing field
    missing_rows: int  # keys the snapshot says synced that the destination does not hold
    not_found_confirmed: int | None  # update-only: valid keys never synced, confirmed absent (None otherwise)
    normalisation: str
    sample: int | None = None  # rows compared when sampled, else None (all of them)
    partial_reason: str | None = None
    notes: list[str] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase: query, read, compare
    differences: list[Difference] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.status == "complete" and not self.differing_rows and not self.missing_rows

    def resend_keys(self) -> list[str]:
        """The keys a resend sends again: the differing and missing rows."""
        return sorted({d.key for d in self.differences} | set(self.missing))

    def summary(self) -> dict:
        """The report without its rows (what the state store keeps as JSON)."""
        out = asdict(self)
        del out["differences"], out["missing"]
        return out

    def to_json(self) -> dict:
        return {**self.summary(), "clean": self.clean, "differences": [asdict(d) for d in self.differences],
                "missing": self.missing}

    def lines(self) -> list[str]:
        """The report as text, for the terminal."""
        f = self.funnel
        out = [f"Reconciliation {self.reconciliation_id} of {self.sync_id}: {self.status.upper()}"
               + (f" ({self.partial_reason})" if self.partial_reason else ""),
               f"  model rows {f.model_rows:,} -> valid keys {f.valid_keys:,} -> in the snapshot {f.in_snapshot:,}"
               f" -> present in the destination {f.present:,}",
               f"  destination records read {f.destination_records:,}, of them unknown to the model "
               f"{f.unknown_to_model:,}" + (f", earlier ones of synced rows (not compared) {f.duplicates:,}"
                                             if f.duplicates is not None else "")]
        if self.sample is not None:
            out.append(f"  sampled: {self.sample:,} rows compared")
        out.append("  fields (matching / compared):")
        out += [f"    {m.field:<24} {m.matching:,} / {m.compared:,} ({m.share:.1%})" for m in self.fields]
        out.append(f"  differing rows: {self.differing_rows:,}; missing rows: {self.missing_rows:,}"
                   + (f"; never synced, confirmed absent: {self.not_found_confirmed:,}"
                      if self.not_found_confirmed is not None else ""))
        for d in self.differences[:20]:
            out.append(f"    differs {d.key} {d.field}: model {d.model_value} / destination {d.destination_value} "
                       f"({STATE_WORDS[d.state]}{'; ' + d.note if d.note else ''})")
        for key in self.missing[:20]:
            out.append(f"    missing {key}")
        out += [f"  note: {n}" for n in self.notes]
        if self.phases:
            out.append("  phases: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.phases.items()))
        out.append(f"  normalisation: {self.normalisation}")
        return out
