"""Overview: the business owner's one screen. What needs action first, then MQR against the limit and where it is
heading, then each sync's health. Every line links to the page that explains it."""

from datetime import datetime, timezone

import streamlit as st

from sync_core.needs_action import ERROR, INFO, WARNING, by_urgency, needs_action
from ui import data, frame
from ui.context import current_workspace
from ui.errors import empty
from ui.filters import titled
from ui.formatting import local_text, status_markdown
from ui.mqr_charts import gauge
from ui.status import run_sentence
from ui.sync_control import board

frame.require_app()

workspace = current_workspace()
st.title("Overview")
statuses, workers = board(workspace)
report = data.mqr_report(workspace)
statuses = by_urgency(statuses)
if all(s.last_run is None for s in statuses):
    empty("No sync has run yet in this workspace.",
          f"Run one from the Syncs page (Run now), or from a terminal: `sync-core -w {workspace.root} run "
          f"{next(iter(workspace.syncs), 'SYNC')}`. `sync-core up` builds a few days of history on the demo.")

st.subheader("Needs action")
SHOW = {ERROR: st.error, WARNING: st.warning, INFO: st.info}
ICONS = {"run": "error", "data_problems": "report", "overdue": "schedule", "no_worker": "power_off",
         "mqr_blocked": "block", "mqr_over_budget": "data_usage", "password": "key", "quota": "api"}
actions = needs_action(statuses, workers, report, problems_of=lambda run: data.run_problems(workspace, run),
                       passwords=data.password_warnings(workspace), quotas=data.marketo_quotas(workspace),
                       when=local_text, worker_command=f"sync-core -w {workspace.root} worker")
for action in actions:
    SHOW[action.severity](f"**{action.subject}**: {action.text}", icon=f":material/{ICONS[action.kind]}:")
    if action.kind == "run":
        st.page_link("pages/run.py", label=f"Run {action.run_id}: what happened and what to do",
                     query_params={"run": action.run_id})
    elif action.kind == "data_problems":
        st.page_link("pages/failed_rows.py", label=f"Failed rows of run {action.run_id}",
                     query_params={"run": action.run_id})
    elif action.kind == "overdue":
        st.page_link("pages/syncs.py", label=f"{action.subject} on the Syncs page", query_params={"sync": action.sync_id})
    elif action.kind == "mqr_blocked":
        st.page_link("pages/mqr.py", label="MQR: the budget and where it goes")
if all(a.severity == INFO for a in actions):
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
            due = s.due(datetime.now(timezone.utc))
            nxt.markdown(f"{'due since' if due else 'next run'} {local_text(s.next_run_at.isoformat())}")
        else:
            nxt.markdown("runs when asked")
        nxt.page_link("pages/syncs.py", label="Open", query_params={"sync": s.sync.id})
st.page_link("pages/runs.py", label="Run history: every run", icon=":material/history:")
st.caption(f"As of {local_text(datetime.now(timezone.utc).isoformat(timespec='seconds'))}.")
