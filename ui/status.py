"""The answer to "did last night's syncs work": one tile per sync with its last run, said as a sentence its
business owner reads (what is wrong, and whether it is new), not as a status word alone."""

from __future__ import annotations

import streamlit as st

from sync_core import RunRecord, Workspace
from sync_core.history import RunProblems
from ui import data
from ui.filters import titled
from ui.formatting import local_text, rows, status_markdown, zone_label

STOPPED = {  # why a run stopped early, by its error class, in its owner's words
    "config": "a setup problem (a setting, a secret or the model)",
    "transient": "the destination could not be reached",
    "data": "a problem in the data",
    "internal": "an error in sync-core",
}


def run_sentence(run: RunRecord, problems: RunProblems | None, *, on_its_page: bool = False) -> str:
    """What a run did, in plain words: its problems first (new ones marked), then what it synced and left out.
    `problems` may be None for a run that has not finished. `on_its_page`: the run's own page, which shows what
    the other pages send the reader to open."""
    c = run.counts.as_dict()
    unsent = c["not_attempted"]
    if run.dry_run:
        bad = f", and {rows(c['invalid'])} have a key that is missing or repeated" if c["invalid"] else ""
        return f"A dry run, which sends nothing: a run would send {rows(c['planned'])}{bad}."
    if run.status == "running":
        return f"Running now: {c['planned'] - unsent:,} of {rows(c['planned'])} done."
    if run.status == "blocked":
        return ("Held back by a safety check before anything was sent: the model changed more than the sync "
                "allows." + ("" if on_its_page else " Open it to see the change and how to accept it."))
    if run.status in ("cancelled", "interrupted"):
        why = (f"cancelled by {run.cancel_requested_by}" if run.status == "cancelled" and run.cancel_requested_by
               else "cancelled" if run.status == "cancelled" else "the process running it ended")
        return f"Stopped before it finished ({why}): the next run sends what it had not sent."
    if run.error:
        unsent_text = f"{rows(unsent)} were not sent" if unsent else "nothing was sent"
        return (f"Stopped before it finished, because of {STOPPED.get(run.error_class or '', 'an error')}: "
                f"{unsent_text}." + ("" if on_its_page else " Open it for the message and what to do."))
    return _finished(c, problems, partial="A retry of the failed rows" if run.retry_failed else
                     "A resend of chosen rows" if run.resend else None)


def _finished(c: dict[str, int], problems: RunProblems | None, *, partial: str | None) -> str:
    if problems is None or not problems.data:
        said = "No data problems."
    else:
        said = f"**{rows(problems.data)} with data problems**, " + _news(problems) + "."
    if partial:  # it tried only some rows (failed, or chosen): "nothing had changed" would mislead
        tried = c["planned"] - c["not_attempted"]
        done = [f"{partial}: {rows(tried)} sent again, {c['synced']:,} synced" if tried else
                f"{partial}: none of them could be sent again"]
    elif c["synced"]:
        done = [f"{rows(c['synced'])} synced"]
    elif not (c["added"] or c["changed"] or c["removed"]):
        done = ["Nothing had changed to sync"]
    else:
        done = ["No rows synced"]
    if c["rejected_expected"]:
        done.append(f"{rows(c['rejected_expected'])} left out as expected")
    if problems is not None and problems.failed:
        done.append(f"{rows(problems.failed)} could not be sent this time and go again next run")
    return f"{said} {'; '.join(done)}."


def _news(problems: RunProblems) -> str:
    """New problems are the ones worth a look: say how many, against the sync's previous run."""
    if problems.compared_with is None:
        return "found by the sync's first run"
    if not problems.new:
        return "none new since the last run"
    if problems.new == problems.data:
        return ":red[all new since the last run]"
    return f":red[{problems.new:,} of them new since the last run]"


def last_runs(workspace: Workspace, latest: dict[str, RunRecord]) -> None:
    ids = list(workspace.syncs) + [s for s in latest if s not in workspace.syncs]
    for column, sync_id in zip(st.columns(max(1, len(ids))), ids):
        title = titled(workspace, sync_id)
        run = latest.get(sync_id)
        with column.container(border=True):
            if run is None:
                st.markdown(f"{title}  \n:gray-badge[never run] It has not run yet.")
                st.caption(f"Run it: `sync-core run {sync_id}`")
                continue
            problems = None if run.status == "running" else data.run_problems(workspace, run)
            st.markdown(f"{title}  \n{status_markdown(run.status)} {run_sentence(run, problems)}")
            st.caption(f"Run {run.id}, started {local_text(run.started_at)} ({zone_label()})")
            st.page_link("pages/run.py", label="Open", icon=":material/arrow_forward:", query_params={"run": run.id})
