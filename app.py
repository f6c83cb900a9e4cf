"""The dashboard. Start it with `sync-core up`, or on an existing workspace with
`streamlit run app.py -- --workspace DIR` (or SYNC_CORE_WORKSPACE=DIR streamlit run app.py)."""

from ui import frame

frame.configure()  # the tab's title and icon (a file of ours: nothing is fetched from the internet)
frame.run(frame.navigation())  # st.navigation over pages/ (Monitor, Investigate), inside the header and error guard
