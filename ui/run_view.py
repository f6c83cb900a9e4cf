"""Parts of one run's view: its error with a next step, its counts as the invariant, its causes."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sync_core import OPERATIONS, OUTCOMES, RunRecord, invariant_violations
from sync_core.history import is_expected, totals
from ui.errors import problem
from ui.formatting import CLASS_LABELS, EXPECTED_HEADING, REAL_HEADING, rows

NEXT_STEP = {
    "config": "Fix the setup the message names (workspace.toml, a secret, the model), then run the sync again.",
    "transient": "Run the sync again: rows it had not confirmed are sent by the next run.",
    "data": "Fix the model or the rows the message names (or accept the change as it says), then run the sync again.",
    "internal": "This is a bug in sync-core: report the message. The next run starts from the last confirmed batch.",
}


def run_error(record: RunRecord, root) -> None:
    if not record.error:
        return
    step = NEXT_STEP.get(record.error_class or "", NEXT_STEP["transient"])
    problem(f"**Run {record.id} stopped** ({record.error_class or 'error'}): {record.error}",
            f"{step} `sync-core -w {root} run {record.sync_id}`")


def invariant(record: RunRecord) -> None:
    """The three identities with this run's numbers, each marked as holding or not."""
    c = record.counts.as_dict()
    broken = invariant_violations(c)
    lines = [
        ("queried", f"{c['queried']:,} = invalid {c['invalid']:,} + unchanged {c['unchanged']:,} "
                    f"+ planned {c['planned']:,} − removed {c['removed']:,}"),
        ("planned", f"{c['planned']:,} = added {c['added']:,} + changed {c['changed']:,} "
                    f"+ removed {c['removed']:,} + retried {c['retried']:,}"),
        ("planned", f"{c['planned']:,} = synced {c['synced']:,} + rejected expected {c['rejected_expected']:,} "
                    f"+ rejected other {c['rejected_other']:,} + failed {c['failed']:,} "
                    f"+ not attempted {c['not_attempted']:,}"),
    ]
    for (term, text), marker in zip(lines, ("queried", "added + changed", "synced + rejected")):
        holds = not any(marker in b for b in broken)  # which identity each message of invariant_violations is about
        st.markdown(f"{':green[✓]' if holds else ':red[✗]'} **{term}** {text}")
    standing = record.counts
    if standing.repeated_other or standing.repeated_expected:
        st.caption(f"Standing: {standing.repeated_other:,} real and {standing.repeated_expected:,} expected rejections "
                   "repeat an earlier run's, for the same cause. They are not new problems: the status weighs the "
                   "new ones against the rows planned, and all of them against the rows queried.")
    if broken:
        problem("**These counts do not add up:** " + "; ".join(broken),
                "This is a bug in sync-core's bookkeeping: report the run id. Rows are not lost: rows not confirmed "
                "stay out of the snapshot and are sent again.")


def operations_table(record: RunRecord) -> pd.DataFrame:
    """Rows per operation (added, changed, removed, retried) and outcome, with totals."""
    matrix = pd.DataFrame(record.counts.by_operation).T.reindex(index=list(OPERATIONS), columns=list(OUTCOMES))
    matrix = matrix.fillna(0).astype(int)
    matrix["total"] = matrix.sum(axis=1)
    matrix.loc["total"] = matrix.sum(axis=0)
    return matrix.rename(columns=lambda c: c.replace("_", " "))


def causes_split(causes) -> None:
    """Real problems first (they need someone), then the expected ones, each with its class."""
    split = totals(causes)
    real = [c for c in causes if not is_expected(c.error_class)]
    expected = [c for c in causes if is_expected(c.error_class)]
    for kind, heading, group, total in (("real", REAL_HEADING, real, split.real),
                                        ("expected", EXPECTED_HEADING, expected, split.expected)):
        with st.container(border=True):
            st.markdown(f"#### {heading}: {rows(total)}")
            if not group:
                st.caption("None in this run.")
                continue
            # A static table: nothing here is selected or sorted, and the interactive grid costs a new tab about
            # a second in the browser (docs/benchmarks.md, "In a real browser"); its messages wrap instead.
            st.table(pd.DataFrame([{"rows": c.rows, "class": CLASS_LABELS.get(c.error_class, c.error_class),
                                    "code": c.code, "message": c.template,
                                    "example keys": ", ".join(map(key_text, c.example_keys)), "outcome": c.outcome}
                                   for c in group]).style.format({"rows": "{:,}"}), hide_index=True)


def key_text(key: str) -> str:
    """A key as code in a table's Markdown: as it is, never made a link (an email becomes a mailto: link, and an
    invalid one with a space, a link to another address)."""
    if "`" in key:  # a double fence, spaced, holds a backtick
        return f"`` {key} ``"
    return f"`{key}`"
