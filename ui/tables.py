"""Tables with selection: the frame shown, its column formats, and what the user picked."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.formatting import STATUS_COLOURS, local_times, zone_label


def runs_table(frame: pd.DataFrame, *, key: str) -> int | None:
    """The runs, newest first; returns the selected run's id. Only what a person reads first, so the table fits
    a laptop's width: the run's error, its full counts and whether they add up are in the run's view."""
    zone = zone_label()
    shown = pd.DataFrame({
        "run": frame["run"], "sync": frame["sync"], "status": frame["status"],
        f"started ({zone})": local_times(frame["started"]).dt.tz_localize(None), "duration (s)": frame["duration_s"],
        "synced": frame["synced"], "expected rejections": frame["expected"], "real problems": frame["real"],
        "trigger": frame["trigger"]})
    styled = shown.style.map(lambda s: f"color: {STATUS_COLOURS.get(s, 'inherit')}; font-weight: 600",
                             subset=["status"])
    event = st.dataframe(styled, key=key, on_select="rerun", selection_mode="single-row", hide_index=True,
                         width="stretch", height=min(420, 38 + 35 * len(shown)), column_config={
                             "run": st.column_config.NumberColumn(format="%d", width=55),
                             "sync": st.column_config.TextColumn(width=180),
                             "status": st.column_config.TextColumn(width=80),
                             f"started ({zone})": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm",
                                                                                  width=140),
                             "duration (s)": st.column_config.NumberColumn(format="%.1f", width=85),
                             "synced": st.column_config.NumberColumn(format="localized", width=75),
                             "expected rejections": st.column_config.NumberColumn(format="localized", width=135),
                             "real problems": st.column_config.NumberColumn(
                                 format="localized", width=105,
                                 help="Rows that need someone: bad keys in the data, rows the destination refused, "
                                      "rows it could not take this time"),
                             "trigger": st.column_config.TextColumn(width=85, help="What started it: the schedule, "
                                                                                    "the dashboard, the command line")})
    rows = event.selection.rows
    return int(frame.iloc[rows[0]]["run"]) if rows else None
