"""The Syncs page's parts: the worker's state, overdue syncs, a sync's buttons with their confirmation, and its run
in progress, redrawn by itself every few seconds (a fragment), from the state store: a reload or a second browser
shows the same."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import streamlit as st

from sync_core import StateStore, SyncConfig, Workspace, history
from sync_core.control import RUN_KINDS, ask_for_run, cancel_run, set_paused, withdraw_request
from sync_core.sync_status import SyncStatus, live_workers, sync_statuses
from ui import data
from ui.access import Access
from ui.formatting import STATUS_MARKDOWN, local_text, rows, zone_label
from ui.status import run_sentence

LIVE_EVERY = 2  # seconds between redraws of a run in progress
IDLE_EVERY = 10  # seconds between redraws while nothing is queued or running: how soon a run started elsewhere shows
PHASES = {"query": "Reading the model and comparing it with what the last runs confirmed",
          "record": "Counting MQR and recording the rows that cannot be sent",
          "lookup": "Waiting for the destination's list of who exists (an update-only sync sends only to them)",
          "sync": "Sending", "finish": "Recording the end of the run"}
ICONS = {"run": ":material/play_arrow:", "full_resync": ":material/sync:", "dry_run": ":material/preview:",
         "retry_failed": ":material/replay:"}


def board(workspace: Workspace):
    """(each sync's status, the live workers), read now: they change by the second."""
    with StateStore(workspace.state_path, read_only=True) as store:
        return sync_statuses(workspace, store, datetime.now(timezone.utc)), live_workers(store)


def worker_state(workspace: Workspace, workers) -> bool:
    """Say whether a worker is running; True if one is."""
    if not workers:
        st.warning("**No worker is running**, so nothing runs: neither the buttons below nor the schedules. Start "
                   f"one in a terminal: `sync-core -w {workspace.root} worker` (`sync-core up` starts one with the "
                   "demo).", icon=":material/power_off:")
        return False
    w = workers[0]
    beat = (datetime.now(timezone.utc) - datetime.fromisoformat(w.heartbeat_at)).total_seconds()
    more = f" and {len(workers) - 1} more" if len(workers) > 1 else ""
    st.caption(f":green[:material/bolt:] Worker `{w.id}`{more} running ({w.concurrency} sync(s) at a time), last "
               f"heartbeat {beat:.0f} s ago.")
    return True


def overdue(statuses: list[SyncStatus]) -> None:
    for s in statuses:
        text = s.overdue_text()
        if text:
            st.error(f"**{s.sync.name}**: {text}", icon=":material/schedule:")


def definition(workspace: Workspace, status: SyncStatus) -> None:
    sync = status.sync
    destination = workspace.destinations[sync.destination]
    left, right = st.columns(2)
    left.markdown(f"**Model** `{sync.model}`  \n**Destination** `{sync.destination}` ({destination.type} "
                  f"{sync.object}s, {sync.mode})  \n**Match** `{sync.match_column}` → `{sync.match_field}`  \n"
                  f"**Fields** {', '.join(f'`{m.field}`' for m in sync.mappings) or 'none: it sends who belongs'}")
    paused = f" (paused by {status.paused_by})" if status.paused else ""
    right.markdown(f"**Schedule** {status.schedule}{paused}")
    dbt, problem = workspace.models[sync.model].dbt, workspace.models[sync.model].dbt_problem
    if problem is not None:  # its runs fail with this until the dbt project is compiled again
        right.error(str(problem))
    if dbt is not None:
        right.markdown(f"**From dbt** `{dbt.name}` (project `{dbt.project}`, {dbt.materialized})  \n"
                       f"**Owner** {dbt.owner or 'none declared'}  \n"
                       f"**dbt tests** {', '.join(f'`{t}`' for t in dbt.tests) or 'none'}")
        if dbt.description:
            right.caption(dbt.description)


def _next(status: SyncStatus) -> str:
    if status.paused:
        return "none while paused"
    if status.next_run_at is None:
        return "when asked (manual)"
    when = f"{local_text(status.next_run_at.isoformat())} ({zone_label()})"
    return f"due since {when}: a worker starts it" if status.due(datetime.now(timezone.utc)) else when


def what_it_does(workspace: Workspace, sync: SyncConfig, kind: str, retry: history.Retryable | None) -> str:
    """The confirmation's text: what the run will do, in the sync's own terms (`retry`: for a retry, what it
    would send)."""
    target = f"{workspace.destinations[sync.destination].type} {sync.object}s ({sync.mode})"
    if kind == "run":
        return (f"Runs **{sync.name}** now: queries `{sync.model}`, sends the rows added or changed since the last "
                f"run to {target}, and retries the rows that failed. The records it queries count in this period's "
                "MQR.")
    if kind == "full_resync":
        return (f"Sends **every row** of `{sync.model}` to {target} again, whatever the last runs confirmed. It takes "
                "as long as a first run and spends the destination's rate limit; MQR counts only records new to "
                "this period.")
    if kind == "dry_run":
        return (f"Plans a run of **{sync.name}** without sending anything: what would be added, changed, removed "
                "and retried, and the MQR it would add. Nothing is recorded as synced and nothing counts in MQR.")
    invalid = (f" The {rows(retry.invalid)} whose key is missing, repeated or shared cannot be sent until the model "
               "is fixed." if retry.invalid else "")
    if not retry.sendable:
        return f"Nothing to retry: no row of {sync.name} failed or was rejected for a real reason.{invalid}"
    return (f"Sends again only the **{rows(retry.sendable)}** of {sync.name} that failed or were rejected for a "
            f"real reason; the {retry.expected:,} expected rejections are not retried, and other changes wait for "
            f"the next run.{invalid}")


def buttons(workspace: Workspace, status: SyncStatus, who: Access, worker_running: bool) -> None:
    """Run now, Full resync, Dry run, Retry failed rows (each confirmed first), and pause/resume. Clicks act in
    callbacks, before the page reruns: a click is never lost to a rerun, and acts once."""
    sync = status.sync
    columns = st.columns(len(RUN_KINDS) + 1)
    for column, kind in zip(columns, RUN_KINDS.values()):
        column.button(kind.label, icon=ICONS[kind.name], key=f"ask_{kind.name}", disabled=not worker_running,
                      help=None if worker_running else "No worker is running: start one first (above)",
                      width="stretch", on_click=_set, args=("confirm", (sync.id, kind.name)))
    if not sync.schedule.manual:
        columns[-1].button("Resume schedule" if status.paused else "Pause schedule", key="pause", width="stretch",
                           icon=":material/play_circle:" if status.paused else ":material/pause_circle:",
                           on_click=set_paused, args=(workspace, sync.id, not status.paused, who.who))
    pending = st.session_state.get("confirm")
    if pending and pending[0] == sync.id:
        _confirm(workspace, sync, pending[1], who)
    answer = st.session_state.pop("answer", None)
    if answer:
        st.toast(answer, icon=":material/schedule_send:")


def _set(name: str, value) -> None:
    st.session_state[name] = value


def _confirm(workspace: Workspace, sync: SyncConfig, kind: str, who: Access) -> None:
    with st.container(border=True):
        retry = None
        if kind == "retry_failed":
            with StateStore(workspace.state_path, read_only=True) as store:
                retry = history.retryable(store, sync.id)
        st.markdown(f"**{RUN_KINDS[kind].label}?** {what_it_does(workspace, sync, kind, retry)}")
        go, back = st.columns([1, 5])
        go.button("Confirm", type="primary", key="confirm_yes", on_click=_ask, args=(workspace, sync.id, kind, who),
                  disabled=retry is not None and not retry.sendable)
        back.button("Cancel", key="confirm_no", on_click=_set, args=("confirm", None))


def _ask(workspace: Workspace, sync_id: str, kind: str, who: Access) -> None:
    answer = ask_for_run(workspace, sync_id, kind, trigger="dashboard", requested_by=who.who)
    st.session_state["answer"] = f"{RUN_KINDS[kind].label}: {answer.describe()}."
    st.session_state["confirm"] = None


def live(workspace: Workspace, status: SyncStatus, who: Access) -> None:
    """The sync's run in progress or queued request, else how its last run ended: redrawn every LIVE_EVERY s
    while a run is queued or going, every IDLE_EVERY s otherwise (each redraw reads the state store; an open tab
    on an idle sync need not do it every 2 s)."""
    active = _active(status)
    st.fragment(run_every=LIVE_EVERY if active else IDLE_EVERY)(_live)(workspace, status.sync.id, who, active)


def _active(status: SyncStatus) -> bool:
    return status.running is not None or status.request is not None


def _live(workspace: Workspace, sync_id: str, who: Access, was_active: bool) -> None:
    statuses, workers = board(workspace)
    status = next(s for s in statuses if s.sync.id == sync_id)
    if _active(status) != was_active:  # a run was queued, began or ended elsewhere: redraw the page, at the pace
        st.rerun()                     # that suits it (a fragment keeps the pace it was drawn with)
    st.markdown(f"**Next run** {_next(status)}")
    if status.running is not None:
        _running(workspace, status, who)
    elif status.request is not None:
        request = status.request
        st.info(f"**{request.describe().capitalize()} queued** (request {request.id}, asked by {request.requested_by} "
                f"at {local_text(request.requested_at)}): "
                + ("a worker takes it within seconds." if workers else "**no worker is running to take it.**"),
                icon=":material/hourglass_top:")
        if who.may_run and request.status == "queued":
            st.button("Withdraw request", key="withdraw", on_click=_withdraw, args=(workspace, request.id, who.who))
    else:
        _latest(workspace, sync_id)
    _unrun(workspace, sync_id)


def _unrun(workspace: Workspace, sync_id: str) -> None:
    """Requests of the last day that never became a run (the sync was running elsewhere), and why."""
    since = (datetime.now(timezone.utc) - timedelta(days=1)).isoformat(timespec="seconds")
    with StateStore(workspace.state_path, read_only=True) as store:
        for request in store.unrun_requests(sync_id, since)[:3]:
            st.caption(f":orange[Request {request.id} ({request.describe()}, asked by {request.requested_by} at "
                       f"{local_text(request.requested_at)}) did not run: {request.error}]")


def _withdraw(workspace: Workspace, request_id: int, by: str) -> None:
    if not withdraw_request(workspace, request_id, by):
        st.toast("A worker had already taken the request: cancel its run instead.", icon=":material/info:")


def _cancel(workspace: Workspace, run_id: int, by: str) -> None:
    if not cancel_run(workspace, run_id, by):
        st.toast(f"Run {run_id} had already ended.", icon=":material/info:")


def _running(workspace: Workspace, status: SyncStatus, who: Access) -> None:
    run = status.running
    counts = run.counts.as_dict()
    planned, left = counts.get("planned", 0), counts.get("not_attempted", 0)
    with st.container(border=True):
        st.markdown(f"**Run {run.id} in progress**: {run.kind}, phase **{run.phase or 'starting'}**, "
                    f"asked by {run.requested_by or run.trigger}, started {local_text(run.started_at)}")
        # The planned rows' outcomes only, so they add up to the rows settled; rows with an invalid key were never
        # planned (the plan refused them), and are said apart
        planned_problems = counts.get("rejected_other", 0) + counts.get("failed", 0)
        invalid = counts.get("invalid", 0)
        settled = (f"{counts.get('synced', 0):,} synced, {counts.get('rejected_expected', 0):,} expected, "
                   f"{planned_problems:,} real problems"
                   + (f"; besides, {rows(invalid)} with an invalid key, not planned" if invalid else ""))
        if run.retry_failed:  # it leaves the other planned rows unsent: no share of them to show
            st.caption(f"Retrying failed rows: {settled} so far.")
        elif planned:
            st.progress((planned - left) / planned, text=f"{planned - left:,} of {planned:,} planned rows settled: "
                        f"{settled}")
        else:
            st.progress(0.0, text=PHASES.get(run.phase, "Starting"))
        with StateStore(workspace.state_path, read_only=True) as store:
            causes = store.run_causes(run.id)
        for c in causes[:5]:
            st.caption(f"{c.rows:,} × {c.error_class}: {c.template}")
        if run.cancel_requested_by:
            st.caption(f"Cancel asked by {run.cancel_requested_by}: it stops after its requests in flight.")
        elif who.may_run:
            st.button("Cancel run", icon=":material/stop_circle:", key="cancel_run", on_click=_cancel,
                      args=(workspace, run.id, who.who))
        st.page_link("pages/run.py", label=f"Run {run.id} details", icon=":material/receipt_long:",
                     query_params={"run": run.id})


def _latest(workspace: Workspace, sync_id: str) -> None:
    """How the sync's newest run ended (a dry run shows its plan, and names the latest run that sent)."""
    with StateStore(workspace.state_path, read_only=True) as store:
        recent = store.list_runs(sync_id=sync_id, limit=20)  # newest first: a dry run may hide the run that sent
    if not recent:
        st.caption("No run yet.")
        return
    run = recent[0]
    colour = STATUS_MARKDOWN.get(run.status, "gray")
    # A dry run is not the sync's latest run as the Overview and Run history tell it: named apart
    st.markdown(f"**{'Dry run' if run.dry_run else 'Latest run'} {run.id}**: :{colour}[{run.status}] "
                f"({run.kind}, asked by "
                f"{run.requested_by or run.trigger}), {local_text(run.finished_at or run.started_at)}")
    if run.dry_run:
        c = run.counts.as_dict()
        cells = st.columns(6)
        for cell, (label, value) in zip(cells, [("Would add", c["added"]), ("Would change", c["changed"]),
                                               ("Would remove", c["removed"]), ("Would retry", c["retried"]),
                                               ("Invalid", c["invalid"]), ("New MQR", run.mqr_new or 0)]):
            cell.metric(label, f"{value:,}")
        for note in run.notes:
            st.caption(note)
        latest = next((r for r in recent if not r.dry_run), None)
        if latest is not None:
            st.caption(f"Latest run that sent: run {latest.id}, {latest.status}, "
                       f"{local_text(latest.finished_at or latest.started_at)}.")
    else:  # the words of Run history's tile, so the two pages tell the same run alike
        st.markdown(run_sentence(run, None if run.status == "running" else data.run_problems(workspace, run)))
        if run.error:
            st.caption(run.error)
    st.page_link("pages/run.py", label=f"Run {run.id} details", icon=":material/receipt_long:",
                 query_params={"run": run.id})


def alerts(workspace: Workspace, sync_id: str) -> None:
    """The sync's recent alerts and how each was delivered (a failed delivery is retried, and shown here)."""
    with StateStore(workspace.state_path, read_only=True) as store:
        recent = store.recent_alerts(sync_id=sync_id, limit=5)
    channels = workspace.alerts.channels if workspace.alerts else ()
    with st.expander(f"Alerts ({len(recent)} recent)", expanded=any(_undelivered(a) for a in recent)):
        if not channels:
            st.caption(f"Alerts are recorded here; to receive them, add `[alerts.webhook]` or `[alerts.email]` to "
                       f"{workspace.file.name}.")
        if not recent:
            st.caption("No alert: an alert is raised when the sync starts failing, recovers, or is overdue.")
        for alert in recent:
            st.markdown(f"**{alert.subject}**, {local_text(alert.created_at)}")
            for d in alert.deliveries:
                st.caption(_delivery_text(d))


def _undelivered(alert) -> bool:
    return any(d.status != "delivered" for d in alert.deliveries)


def _delivery_text(d) -> str:
    if d.status == "delivered":
        return f"{d.channel}: delivered {local_text(d.delivered_at)}"
    error = f": {d.last_error}" if d.last_error else ""
    if d.status == "failed":
        return f":red[{d.channel}: not delivered, gave up after {d.attempts} attempts{error}]"
    tried = f"attempt {d.attempts} failed{error}; " if d.attempts else ""
    return f":orange[{d.channel}: not delivered yet ({tried}next try {local_text(d.next_attempt_at)})]"
