"""Tables with selection: the frame shown, its column formats, and what the user picked."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.formatting import STATUS_COLOURS, local_times, zone_label


COUNT = st.column_config.NumberColumn(format="localized")  # a count of rows: 20,292, not 20292
COUNT_COLUMNS = ("queried", "planned", "synced", "expected rejections", "not attempted")


def runs_table(frame: pd.DataFrame, *, key: str) -> int | None:
    """The runs, newest first; returns the selected run's id."""
    zone = zone_label()
    shown = pd.DataFrame({
        "run": frame["run"], "sync": frame["sync"], "status": frame["status"],
        "trigger": frame["trigger"], f"started ({zone})": local_times(frame["started"]).dt.tz_localize(None),
        "duration (s)": frame["duration_s"], "queried": frame["queried"], "planned": frame["planned"],
        "synced": frame["synced"], "expected rejections": frame["expected"], "real problems": frame["real"],
        "not attempted": frame["not_attempted"], "counts add up": frame["adds_up"], "error": frame["error"]})
    styled = shown.style.map(lambda s: f"color: {STATUS_COLOURS.get(s, '#1F2330')}; font-weight: 600",
                             subset=["status"])
    event = st.dataframe(styled, key=key, on_select="rerun", selection_mode="single-row", hide_index=True,
                         width="stretch", height=min(420, 38 + 35 * len(shown)), column_config={
                             "run": st.column_config.NumberColumn(format="%d", width="small"),
                             f"started ({zone})": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
                             "duration (s)": st.column_config.NumberColumn(format="%.2f"),
                             **{name: COUNT for name in COUNT_COLUMNS},
                             "real problems": st.column_config.NumberColumn(
                                 format="localized", help="invalid keys + real rejections + failed rows"),
                             "counts add up": st.column_config.CheckboxColumn(
                                 help="queried = invalid + unchanged + planned - removed, and planned = the sum of "
                                      "its operations = the sum of its outcomes")})
    rows = event.selection.rows
    return int(frame.iloc[rows[0]]["run"]) if rows else None
