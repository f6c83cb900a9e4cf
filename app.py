"""The dashboard. Start it with `sync-core up`, or on an existing workspace with
`streamlit run app.py -- --workspace DIR` (or SYNC_CORE_WORKSPACE=DIR streamlit run app.py)."""

import streamlit as st

from ui.context import current_workspace

st.set_page_config(page_title="Sync operations", page_icon=":material/sync_alt:", layout="wide")

workspace = current_workspace()
st.sidebar.markdown(f"**{workspace.name}**")
st.sidebar.caption(f"Workspace: `{workspace.root}`")

navigation = st.navigation({
    "Monitor": [st.Page("pages/runs.py", title="Runs", icon=":material/history:", url_path="runs", default=True)],
})
navigation.run()
