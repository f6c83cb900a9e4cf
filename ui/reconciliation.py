"""The Reconciliation page's parts: starting one in the background and following it (a fragment that redraws
from the state store, so a reload shows the same), its report (funnel, field matches, differing and missing
rows with a CSV download), the history, and the resend action for operators."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sync_core import StateStore, Workspace
from sync_core.control import resend_differences
from sync_core.reconcile import STATE_WORDS, log_path, start_in_background
from ui.access import Access
from ui.bars import ROOM, Bar, BarChart, Part
from ui.formatting import local_text, share_text

BLUE = "#4C7BD9"
LIVE_EVERY = 2  # seconds between redraws of a reconciliation in progress
IDLE_EVERY = 10  # seconds between redraws while none runs: how soon one started elsewhere shows
PHASES = {"starting": "Starting", "query": "Reading the model and comparing it with the snapshot",
          "read": "Reading the destination's records back (within the rate limits it shares with the runs)",
          "compare": "Comparing every field of every row"}
STATUS_WORDS = {"complete": ":green[complete]", "partial": ":orange[partial: the destination was not read whole]",
                "failed": ":red[failed]", "interrupted": ":red[interrupted]", "running": ":blue[running]"}


def history(workspace: Workspace, sync_id: str):
    with StateStore(workspace.state_path, read_only=True) as store:
        return store.reconciliations(sync_id)


def has_run(workspace: Workspace, sync_id: str) -> bool:
    with StateStore(workspace.state_path, read_only=True) as store:
        return bool(store.list_runs(sync_id=sync_id, limit=1))


def rows_of(workspace: Workspace, reconciliation_id: int) -> pd.DataFrame:
    with StateStore(workspace.state_path, read_only=True) as store:
        rows = store.reconciliation_rows(reconciliation_id)
    frame = pd.DataFrame(rows, columns=["kind", "key", "field", "model_value", "destination_value", "state"])
    return frame.assign(state=frame["state"].map(STATE_WORDS))


def start(workspace: Workspace, sync_id: str, access: Access, running) -> None:
    """The start button (off while `running`, the sync's reconciliation in progress, is not None); the process it
    starts records itself in the state store."""
    error = st.session_state.pop("start_error", None)
    if error:
        st.error(f"The last reconciliation started here ended with an error: {error}", icon=":material/error:")
    if not access.may_run:  # it reads the whole destination, spending the calls and exports the runs share
        st.caption(access.why_not or "Sign in to start a reconciliation.")
        return
    st.button("Start a reconciliation", icon=":material/compare_arrows:", disabled=running is not None,
              key="start_reconciliation", on_click=_start, args=(workspace, sync_id, access.who),
              help="Reads the model now and the destination's records (Iterable: one export; Marketo: the sync's "
                   "activities since its first run, paged), then compares them. It writes nothing and counts no "
                   "MQR.")


def _start(workspace: Workspace, sync_id: str, who: str) -> None:
    st.session_state["reconciliation_process"] = start_in_background(workspace, sync_id, requested_by=who)


def progress(workspace: Workspace, sync_id: str, running) -> None:
    """The reconciliation in progress, if any (`running`, as the page read it), from the state store (a reload
    shows the same), redrawn every LIVE_EVERY s while one runs or this session is starting one, every IDLE_EVERY
    s otherwise (each redraw reads the state store: an open tab on an idle sync need not do it every 2 s); once
    the one this session started or watched ends, a full rerun shows its report."""
    active = running is not None or "reconciliation_process" in st.session_state
    st.fragment(run_every=LIVE_EVERY if active else IDLE_EVERY)(_progress)(workspace, sync_id, active)


def _running(workspace: Workspace, sync_id: str):
    return next((r for r in history(workspace, sync_id) if r.status == "running"), None)


def _progress(workspace: Workspace, sync_id: str, was_active: bool) -> None:
    running = _running(workspace, sync_id)
    launched = st.session_state.get("reconciliation_process")
    if running is not None and not was_active:  # started elsewhere (the CLI, another tab): redraw the page, at
        st.rerun()                              # the pace that suits it (a fragment keeps the pace it was drawn with)
    if running is not None:
        st.session_state["watching"] = running.id
        st.info(f"Reconciliation {running.id} is running (started {local_text(running.started_at)} by "
                f"{running.requested_by}): {PHASES.get(running.phase, running.phase)}...", icon=":material/sync:")
    elif launched is not None and launched.poll() is None:
        st.info("Starting a reconciliation...", icon=":material/sync:")
    elif launched is not None:
        del st.session_state["reconciliation_process"]
        if launched.returncode not in (0, 1):  # 0 clean, 1 found differences; else an error, said in its log
            st.session_state["start_error"] = " ".join(
                log_path(workspace, sync_id).read_text(errors="replace").strip().splitlines()[-1:])
        st.session_state.pop("watching", None)
        st.rerun()
    elif st.session_state.pop("watching", None) is not None:
        st.rerun()


def report(workspace: Workspace, record) -> None:
    st.markdown(f"**Reconciliation {record.id}**, started {local_text(record.started_at)} by {record.requested_by}: "
                f"{STATUS_WORDS.get(record.status, record.status)}")
    if record.summary is None:
        if record.error:
            st.error(record.error, icon=":material/error:")
        return
    s = record.summary
    if s.get("partial_reason"):
        st.warning(f"Partial: {s['partial_reason']}. Rows the read did not reach are not called missing.",
                   icon=":material/warning:")
    f = s["funnel"]
    left, right = st.columns(2)
    left.html(funnel_chart(f))  # HTML bars, not Vega-Lite: ui/bars.py says why
    right.html(field_chart(s["fields"]))
    metrics = [("Differing rows", s["differing_rows"]), ("Missing in the destination", s["missing_rows"]),
               ("Destination records unknown to the model", f["unknown_to_model"])]
    if s.get("not_found_confirmed") is not None:
        metrics.append(("Never synced, confirmed absent (update-only)", s["not_found_confirmed"]))
    if f.get("duplicates") is not None:  # the destination keeps every record written (Marketo activities)
        metrics.append(("Earlier records of synced rows (not compared)", f["duplicates"]))
    for col, (label, value) in zip(st.columns(len(metrics)), metrics):
        col.metric(label, f"{value:,}")
    for note in s.get("notes", []):
        st.caption(note)
    st.caption(f"Values are normalised before comparing: {s['normalisation']}.")


def funnel_chart(f: dict) -> str:
    stages = [("Model rows", f["model_rows"]), ("Valid keys", f["valid_keys"]), ("In the snapshot", f["in_snapshot"]),
              ("Present in the destination", f["present"])]
    first = stages[0][1] or 1
    return BarChart("funnel", [Bar(s, [Part(s, n, BLUE)], text=f"{n:,} ({share_text(n, first)})") for s, n in stages],
                    title="From the model to the destination").html()


def field_chart(fields: list[dict]) -> str:
    bars = []
    for m in fields:
        share = 100 * (m["matching"] / m["compared"] if m["compared"] else 1.0)
        bars.append(Bar(m["field"], [Part(m["field"], share, BLUE)], text=f"{m['matching']:,} of {m['compared']:,}",
                        value=share))
    return BarChart("fields", bars, title="Rows whose field matches (%)", domain_max=100 * ROOM).html()


def mismatches(workspace: Workspace, record) -> None:
    frame = rows_of(workspace, record.id)
    differing, missing = frame[frame["kind"] == "differs"], frame[frame["kind"] == "missing"]
    st.subheader("Rows that differ")
    if differing.empty:
        st.caption("None: every compared field of every present row matches.")
    else:
        st.dataframe(differing.drop(columns=["kind"]), hide_index=True, key=f"differing_{record.id}")
    st.subheader("Rows missing in the destination")
    if missing.empty:
        st.caption("None: the destination holds every row the snapshot says was synced."
                   if record.status == "complete" else "Not known: the read was not whole.")
    else:
        st.dataframe(missing[["key", "state"]], hide_index=True, key=f"missing_{record.id}")
    if not frame.empty:
        st.download_button("Download the differing and missing rows as CSV", frame.to_csv(index=False),
                           file_name=f"reconciliation-{record.id}.csv", mime="text/csv", key=f"csv_{record.id}")


def resend(workspace: Workspace, record, access: Access) -> None:
    """Operators: queue a run limited to the differing and missing rows (a worker runs it)."""
    if record.summary is None or not (record.summary["differing_rows"] or record.summary["missing_rows"]):
        return
    if not access.may_run:
        st.caption(access.why_not or "Only operators may resend rows.")
        return
    st.button("Resend the differing and missing rows", icon=":material/replay:", key=f"resend_{record.id}",
              on_click=_resend, args=(workspace, record.id, access.who),
              help="Queues a run of this sync that sends only these rows again; a worker runs it.")
    asked = st.session_state.pop("resend_asked", None)
    if asked:
        st.success(f"Resend {asked}. Reconcile again once it has run.", icon=":material/check:")


def _resend(workspace: Workspace, reconciliation_id: int, who: str) -> None:
    asked = resend_differences(workspace, reconciliation_id, trigger="dashboard", requested_by=who)
    st.session_state["resend_asked"] = asked.describe()


def history_table(records) -> None:
    frame = pd.DataFrame([{
        "reconciliation": r.id, "started": local_text(r.started_at), "by": r.requested_by, "status": r.status,
        "present": (r.summary or {}).get("funnel", {}).get("present"),
        "differing rows": (r.summary or {}).get("differing_rows"),
        "missing rows": (r.summary or {}).get("missing_rows"), "error": r.error} for r in records])
    # Compared with the one before it: did the last repair work?
    differing = pd.to_numeric(frame["differing rows"], errors="coerce")  # None where it failed
    frame["differing change"] = differing - differing.shift(-1)
    frame[["by", "error"]] = frame[["by", "error"]].fillna("")  # blank, not the word None
    st.dataframe(frame, hide_index=True, key="reconciliation_history")
