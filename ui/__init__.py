"""Dashboard helpers shared by app.py and pages/: Streamlit-side only, reading through sync_core's API."""
