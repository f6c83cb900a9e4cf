"""Find one record by key (an email) or user id: where it stands in every sync, and which runs cite it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sync_core import Workspace
from ui import data
from ui.filters import to_url
from ui.formatting import CLASS_LABELS, local_text, zone_label


def record_search(workspace: Workspace) -> None:
    if "fr_term" not in st.session_state and st.query_params.get("key"):
        st.session_state["fr_term"] = st.query_params["key"]
    term = st.text_input("Find a record", key="fr_term", placeholder="an email, or a user id",
                         help="The sync's key (the model's primary key, e.g. an email), or a user id named in a "
                              "user-id sync's not-found message.").strip()
    to_url("key", term or None)
    if not term:
        return
    story = data.record_story(workspace, term)
    if not story.found:
        st.info(f"No sync has a trace of `{term}`: it was never rejected, confirmed, or cited by a run.\n\n"
                "**Next step:** check the spelling (keys match exactly, emails also in lower case). A record "
                "that is synced and never failed is listed only under the sync that confirmed it.",
                icon=":material/search_off:")
        return
    zone = zone_label()
    if story.failing:
        st.markdown("**Not synced now**")
        st.dataframe(pd.DataFrame([{
            "sync": r.sync_id, "key": r.key, "class": CLASS_LABELS.get(r.error_class, r.error_class),
            "code": r.code, "message": r.message, f"first seen ({zone})": local_text(r.first_seen),
            f"last seen ({zone})": local_text(r.last_seen), "times seen": r.times_seen,
            "runs": f"{r.first_run_id} to {r.last_run_id}"} for r in story.failing]),
            hide_index=True, width="stretch", key="fr_story_failing",
            # What a person reads first fits the screen; the code, the last sighting and the runs are hidden.
            column_order=["sync", "key", "class", "message", f"first seen ({zone})", "times seen"],
            column_config={"sync": st.column_config.TextColumn(width=150),
                           "key": st.column_config.TextColumn(width=200),
                           "class": st.column_config.TextColumn(width=130),
                           "message": st.column_config.TextColumn(width=240),
                           f"first seen ({zone})": st.column_config.TextColumn(width=130),
                           "times seen": st.column_config.NumberColumn(width=70)})
    if story.confirmed:
        st.markdown("**Synced: the destination confirmed its current values**")
        st.dataframe(pd.DataFrame([{"sync": c.sync_id, "key": c.key, "confirmed by run": c.run_id,
                                    f"run started ({zone})": local_text(c.started_at)} for c in story.confirmed]),
                     hide_index=True, width="stretch", key="fr_story_confirmed")
    if story.examples:
        st.markdown("**Runs that cite it as an example of a cause** (latest first)")
        st.dataframe(pd.DataFrame([{"run": e.run_id, "sync": e.sync_id, f"started ({zone})": local_text(e.started_at),
                                    "class": e.error_class, "code": e.code, "message": e.template,
                                    "rows of that cause": e.rows} for e in story.examples]),
                     hide_index=True, width="stretch", key="fr_story_examples",
                     column_order=["run", "sync", f"started ({zone})", "class", "message", "rows of that cause"],
                     column_config={"run": st.column_config.NumberColumn(width=60),
                                    "sync": st.column_config.TextColumn(width=150),
                                    f"started ({zone})": st.column_config.TextColumn(width=140),
                                    "class": st.column_config.TextColumn(width=100),
                                    "message": st.column_config.TextColumn(width=330),
                                    "rows of that cause": st.column_config.NumberColumn(format="localized", width=120)})
