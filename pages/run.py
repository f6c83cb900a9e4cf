"""One run: what it did in a sentence, its causes, then its counts (the invariant visible), phases and technical
details. Deep link: /run?run=ID."""

import streamlit as st

from sync_core.history import RunFilter
from ui import charts, data, frame, run_view
from ui.context import current_workspace
from ui.errors import empty, problem
from ui.filters import seed_from_url, sync_label, to_url
from ui.formatting import local_text, status_markdown, zone_label
from ui.status import run_sentence

frame.require_app()

workspace = current_workspace()
facets = data.facets(workspace)
if not facets.runs:
    st.title("Run details")
    empty("No runs yet, so there is no run to show.",
          f"Run a sync: `sync-core -w {workspace.root} run {next(iter(workspace.syncs), 'SYNC')}`, then come back "
          "or open it from Run history.")
    st.stop()

runs = data.runs_frame(workspace, RunFilter())
labels = {int(r.run): f"#{r.run} · {r.sync} · {local_text(r.started)} · {r.status}" for r in runs.itertuples()}
unusable = seed_from_url("run_pick", "run", int, labels)
if unusable is not None:
    problem(f"There is no run `{unusable}` in this workspace's history.",
            "Pick a run below, or open Run history and select one. Showing the latest run.")
run_id = st.selectbox("Run", list(labels), format_func=labels.get, key="run_pick")
to_url("run", run_id)
record, causes = data.run_detail(workspace, run_id)

st.title(f"Run {record.id}: {sync_label(workspace, record.sync_id)}")
problems = None if record.status == "running" else data.run_problems(workspace, record)
flags = [f for f, on in (("dry run", record.dry_run), ("full resync", record.full_resync)) if on]
st.markdown(f"{status_markdown(record.status)}{' · ' + ', '.join(flags) if flags else ''} "
            f"{run_sentence(record, problems, on_its_page=True)}")
st.caption(f"Started {local_text(record.started_at)}, finished {local_text(record.finished_at)} ({zone_label()}).")
run_view.run_error(record, workspace.root)

c = record.counts.as_dict()
tiles = [("queried", c["queried"]), ("planned", c["planned"]), ("synced", c["synced"]),
         ("expected rejections", c["rejected_expected"]),
         ("real problems", record.counts.real_rows), ("not attempted", c["not_attempted"])]
for column, (label, value) in zip(st.columns(len(tiles)), tiles):
    column.metric(label, f"{value:,}")

st.subheader("Failed rows")
if causes:
    run_view.causes_split(causes)
    st.page_link("pages/failed_rows.py", label=f"Inspect the failed rows of run {record.id}", icon=":material/report:",
                 query_params={"run": record.id, "sync": record.sync_id})
elif record.dry_run:
    empty("A dry run sends nothing and records no failed rows: its counts show what a run would do.",
          f"Run it for real: `sync-core -w {workspace.root} run {record.sync_id}`.")
elif record.error and not record.counts.planned:
    empty("This run recorded no rows: it stopped before planning.", "Fix the error above and run the sync again.")
elif unsent := record.counts.outcome("not_attempted"):
    empty(f"No failed rows in run {record.id}, but {unsent:,} planned rows were not attempted: "
          + ("it is still running." if record.status == "running" else "it stopped before sending them."),
          "The next run sends them" + (", once the error above is fixed." if record.error_class == "config" else "."))
else:
    empty(f"No failed rows in run {record.id}: every planned row was synced.",
          "Nothing to fix. Run history shows the other runs of this sync.")

counts, timing = st.columns([3, 2])
with counts:
    st.subheader("Counts")
    run_view.invariant(record)
    table = run_view.operations_table(record)
    st.table(table.style.format("{:,}"))  # static, as the causes above: nothing to select
with timing:
    st.subheader("Phases")
    if record.phases:
        st.html(charts.phases(record.phases))  # HTML bars: ui/bars.py says why
    else:
        st.caption("No phase ran: the run stopped before its query.")

# What only the sync's technical owner reads: after what a business owner needs, and complete.
st.subheader("Technical details")
st.markdown(f"Trigger `{record.trigger}`" + (f", asked by {record.requested_by}" if record.requested_by else "")
            + f" · config fingerprint `{record.config_fingerprint}`")
for note in record.notes:
    st.caption(f":material/lightbulb: {note}")
