"""Overview: the business owner's one screen. What needs action first, then MQR against the limit and where it is
heading, then each sync's health. Every line links to the page that explains it."""

from datetime import datetime, timezone

import streamlit as st

from sync_core.destinations.marketo.quota import OK as QUOTA_OK, USED_UP
from sync_core.sync_status import schedules_wait_for_a_worker
from ui import data, frame
from ui.context import current_workspace
from ui.errors import empty
from ui.filters import titled
from ui.formatting import local_text, rows, status_markdown
from ui.mqr_charts import gauge
from ui.status import run_sentence
from ui.sync_control import board

frame.require_app()

workspace = current_workspace()
st.title("Overview")
statuses, workers = board(workspace)
report = data.mqr_report(workspace)
ORDER = {"failed": 0, "blocked": 0, "warning": 1, "interrupted": 2, "cancelled": 2, "healthy": 3}


def rank(status) -> tuple:
    run = status.last_run
    return (ORDER.get(run.status, 2) if run else 2, status.overdue_by is None, status.sync.name)


statuses = sorted(statuses, key=rank)
if all(s.last_run is None for s in statuses):
    empty("No sync has run yet in this workspace.",
          f"Run one from the Syncs page (Run now), or from a terminal: `sync-core -w {workspace.root} run "
          f"{next(iter(workspace.syncs), 'SYNC')}`. `sync-core up` builds a few days of history on the demo.")

st.subheader("Needs action")
actions = 0
for s in statuses:
    run = s.last_run
    if run is not None and run.status in ("failed", "blocked"):
        actions += 1
        reason = (run.error or "").splitlines()[0][:200] if run.error else f"{run.counts.real_rows:,} rows with real problems"
        st.error(f"**{s.sync.name}**: last run {run.status} ({local_text(run.finished_at or run.started_at)}): {reason}",
                 icon=":material/error:")
        st.page_link("pages/run.py", label=f"Run {run.id}: what happened and what to do", query_params={"run": run.id})
    elif run is not None and run.status == "warning":
        problems = data.run_problems(workspace, run)
        if problems.new and problems.compared_with is not None:
            actions += 1
            st.warning(f"**{s.sync.name}**: {rows(problems.new)} with data problems new since its previous run "
                       f"({problems.data:,} in all).", icon=":material/report:")
            st.page_link("pages/failed_rows.py", label=f"Failed rows of run {run.id}", query_params={"run": run.id})
    if s.overdue_by is not None:
        actions += 1
        st.error(f"**{s.sync.name}**: {s.overdue_text()}", icon=":material/schedule:")
        st.page_link("pages/syncs.py", label=f"{s.sync.name} on the Syncs page", query_params={"sync": s.sync.id})
if schedules_wait_for_a_worker(statuses, workers):
    actions += 1
    st.warning("**No worker is running**: scheduled syncs do not run. Start one: "
               f"`sync-core -w {workspace.root} worker`.", icon=":material/power_off:")
for run in report.blocked_runs:
    actions += 1
    st.error(f"**MQR budget**: run {run.id} of {run.sync_id} was stopped before it counted anything.",
             icon=":material/block:")
    st.page_link("pages/mqr.py", label="MQR: the budget and where it goes")
if report.used > report.budget:
    actions += 1
    st.error(f"**MQR**: {report.used:,} records counted this period, over the budget of {report.budget:,}.",
             icon=":material/data_usage:")
for status, sentence in data.password_warnings(workspace):
    if status == "unknown":  # this dashboard's host may lack a secret the worker's has: worth a note, not an alarm
        st.info(f"**Snowflake password**: {sentence}", icon=":material/key:")
        continue
    actions += 1
    (st.error if status == "expired" else st.warning)(f"**Snowflake password**: {sentence}", icon=":material/key:")
for destination, quota in data.marketo_quotas(workspace):
    named = "Marketo" if destination.lower() == "marketo" else f"Marketo {destination}"  # not "Marketo marketo"
    if isinstance(quota, str):
        st.info(f"**{named}**: {quota}", icon=":material/api:")
    elif quota.state == QUOTA_OK:
        st.info(f"**{named}**: {quota.describe()}.", icon=":material/api:")
    else:
        actions += 1
        (st.error if quota.state == USED_UP else st.warning)(
            f"**{named}**: {quota.state}: {quota.describe()}. Runs send "
            f"{'nothing' if quota.state == USED_UP else 'only what is left above the reserve'} until the reset.",
            icon=":material/api:")
if not actions:
    st.success("Nothing needs action: no sync's last run failed, none is overdue, MQR is within budget, no "
               "password is about to expire, and no Marketo quota is running out.",
               icon=":material/check_circle:")

st.subheader("MQR this period")
left, right = st.columns([2, 3])
with left:
    st.html(gauge(report))  # HTML, not Vega-Lite: ui/bars.py says why
with right:
    scale = " (demo scale)" if workspace.mqr_demo_scaled else ""
    st.markdown(f"**{report.used:,}** of **{report.limit:,}**{scale} records counted since "
                f"{report.period_start:%Y-%m-%d} ({report.share:.0%}).")
    f = report.forecast
    if f.reason:
        st.caption(f"No forecast yet: {f.reason}.")
    else:
        when = (f"was reached on {f.limit_reached:%Y-%m-%d}" if f.limit_reached else
                f"would be reached on {f.limit_on:%Y-%m-%d}" if f.limit_on else "is not reached this period")
        st.markdown(f"Expected at the period's end: **{f.expected:,}** (range {f.low:,} to {f.high:,}); the budget "
                    f"{when}.")
    # One sync's figure, not a sum: syncs' figures overlap (a record two syncs query counts once)
    worst = max(report.by_sync, key=lambda line: line.unproductive or 0, default=None)
    if worst is not None and worst.unproductive:
        st.markdown(f"Most MQR that bought nothing: {titled(workspace, worst.sync_id)}, {worst.unproductive:,} of "
                    f"the {worst.queried:,} records it queried never reached its destination this period.")
    st.page_link("pages/mqr.py", label="MQR: by sync, day by day, and the forecast's method",
                 icon=":material/data_usage:")

st.subheader("Syncs")
for s in statuses:
    run = s.last_run
    with st.container(border=True):
        name, state, nxt = st.columns([3, 4, 3])
        name.markdown(f"{titled(workspace, s.sync.id)}  \n{s.schedule}")
        if run is None:
            state.markdown("never run")
        else:
            problems = data.run_problems(workspace, run) if run.status not in ("running",) else None
            state.markdown(f"{status_markdown(run.status)} · {local_text(run.finished_at or run.started_at)}  \n"
                           f"{run_sentence(run, problems)}")
        if s.running:
            nxt.markdown(f"running now (run {s.running.id})")
        elif s.paused:
            nxt.markdown("schedule paused")
        elif s.next_run_at:
            nxt.markdown(f"next run {local_text(s.next_run_at.isoformat())}")
        else:
            nxt.markdown("runs when asked")
        nxt.page_link("pages/syncs.py", label="Open", query_params={"sync": s.sync.id})
st.page_link("pages/runs.py", label="Run history: every run", icon=":material/history:")
st.caption(f"As of {local_text(datetime.now(timezone.utc).isoformat(timespec='seconds'))}.")
