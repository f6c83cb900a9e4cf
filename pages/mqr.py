"""MQR: the billing period's Monthly Queried Records against the plan's limit, where they go, when the limit would
be reached, and how much of them bought nothing."""

from datetime import datetime, timezone

import pandas as pd
import streamlit as st

from ui import data, frame
from ui.context import current_workspace
from ui.errors import empty
from ui.mqr_charts import by_sync, cumulative, gauge, sync_names

frame.require_app()



def stopped_runs() -> None:
    """The runs the budget guard stopped in the period: shown even when nothing was counted (a period's first
    run stopped is the reason)."""
    if report.blocked_runs:
        st.subheader("Runs the budget guard stopped")
        for run in report.blocked_runs:
            st.page_link("pages/run.py", label=f"Run {run.id} of {run.sync_id}, {run.started_at}",
                         icon=":material/block:", query_params={"run": run.id})


workspace = current_workspace()
st.title("MQR")
demo = workspace.mqr_demo_scaled
picked = st.date_input("Billing period holding", value=datetime.now(timezone.utc).date(), key="mqr_day",
                       help=f"Periods start on day {workspace.mqr.billing_period_start_day} of a month "
                            f"([mqr] billing_period_start_day in {workspace.file.name})")
report = data.mqr_report(workspace, picked)
period = f"{report.period_start:%Y-%m-%d} to {report.period_end:%Y-%m-%d} (exclusive)"
scale = " · *demo scale*: the limit is scaled to the demo's size (the seed's plan is 1.5M)" if demo else ""
st.caption(f"Period {period}{'' if report.current else ', closed'}{scale}")
for note in report.notes:
    st.warning(note, icon=":material/history:")

if not report.used:
    empty(f"No records were counted in the period {period}.",
          "A run counts the records its model queries: run a sync (`sync-core run SYNC`, or Run now on the Syncs "
          "page), or pick a period with runs." + (f" Periods with data: "
          f"{', '.join(f'{d:%Y-%m-%d}' for d, _ in report.earlier[:6])}." if report.earlier else ""))
    stopped_runs()
    st.stop()

left, right = st.columns([2, 3])
with left:
    st.html(gauge(report))  # HTML, not Vega-Lite: ui/bars.py says why
    guard = ("stops a run" if report.policy == "block" else "warns of a run") + " that would count past"
    reserve = " (the limit less its reserve)" if report.budget < report.limit else ""
    st.caption(f"{report.share:.1%} of the limit used. The budget guard ([mqr] policy = \"{report.policy}\") "
               f"{guard} {report.budget:,}{reserve}: the red mark.")
with right:
    f = report.forecast
    if not report.current:
        st.metric("Final total", f"{report.used:,}")
    elif f.reason:
        st.info(f"**No forecast yet:** {f.reason}.", icon=":material/query_stats:")
    else:
        a, b = st.columns(2)
        a.metric("Expected at the period's end", f"{f.expected:,}", help=f"Range {f.low:,} to {f.high:,}")
        when = (f"reached {f.limit_reached:%Y-%m-%d}" if f.limit_reached else
                f"{f.limit_on:%Y-%m-%d}" if f.limit_on else "not this period")
        b.metric("Budget reached", when, help=f"At the fastest day's rate: "
                 f"{f.limit_earliest:%Y-%m-%d}" if f.limit_earliest else "Not this period, even at the fastest rate")
        st.caption(f"Range {f.low:,} to {f.high:,}.")
    st.caption(f"**Method:** {f.method}.")

st.subheader("Day by day")
st.vega_lite_chart(spec=cumulative(report), width="stretch", key="mqr_cumulative")

st.subheader("By sync")
st.caption("A record two syncs query counts once, for the first that counted it; each sync's bar is every record "
           "it queried, split into those the destination held after a run of the period and those it never did.")
if any(line.queried is not None for line in report.by_sync):
    st.html(by_sync(report))
for line, name in zip(report.by_sync, sync_names(report.by_sync)):
    wasted = "" if line.unproductive is None else (
        f"; **{line.unproductive:,}** of its {line.queried:,} records ({line.unproductive / max(1, line.queried):.0%}) "
        "bought nothing")
    st.markdown(f"**{name}**: first to count {line.first_counted:,}{wasted}.")
    if line.saving:
        st.caption(line.saving[0].upper() + line.saving[1:] + ".")

stopped_runs()
if report.earlier:
    st.subheader("Earlier periods")
    earlier = pd.DataFrame([{"period start": f"{d:%Y-%m-%d}", "records": used,
                             "share of today's limit": f"{used / report.limit:.0%}"} for d, used in report.earlier])
    st.table(earlier.style.format({"records": "{:,}"}), hide_index=True)  # static: nothing to select, no grid to load
