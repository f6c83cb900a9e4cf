"""The dashboard. Start it with `sync-core up`, or on an existing workspace with
`streamlit run app.py -- --workspace DIR` (or SYNC_CORE_WORKSPACE=DIR streamlit run app.py)."""

import streamlit as st

from ui import frame

st.set_page_config(page_title="Sync operations", page_icon=":material/sync_alt:", layout="wide")
frame.run(frame.navigation())  # st.navigation over pages/ (Monitor, Investigate), inside the header and error guard
