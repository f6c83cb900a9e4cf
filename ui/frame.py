"""The app's frame: navigation in sections, the workspace header, and the error guard around every page.

Streamlit has a legacy mode for apps with a `pages/` folder: until some run calls `st.navigation`, a request for a
page runs that page's file alone, without app.py. That happens on a server's first request when it is a deep
link (/run?run=12), and on every AppTest `switch_page`. A page run that way reruns through app.py, so the frame
is always there."""

from __future__ import annotations

import threading
from pathlib import Path

import streamlit as st

from ui.context import workspace_choice
from ui.errors import unexpected
from ui.header import workspace_header

_run = threading.local()  # a script run stays on one thread: is app.py running the page now?
ICON = Path(__file__).parent / "icon.svg"


def configure() -> None:
    """The tab's title and icon, and the wide layout. The icon is a file of ours, sent inline: a page's
    :material/ icon would become the tab's icon, fetched from a font server (and failing offline)."""
    st.set_page_config(page_title="Sync operations", page_icon=str(ICON), layout="wide")


def navigation():
    # Each page's url_path is its file stem: deep links read naturally, and AppTest's switch_page finds the page.
    return st.navigation({
        "Monitor": [
            st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", url_path="overview",
                    default=True),
            st.Page("pages/runs.py", title="Run history", icon=":material/history:", url_path="runs"),
            st.Page("pages/syncs.py", title="Syncs", icon=":material/sync_alt:", url_path="syncs"),
            st.Page("pages/run.py", title="Run details", icon=":material/receipt_long:", url_path="run"),
        ],
        "Cost": [
            st.Page("pages/mqr.py", title="MQR", icon=":material/data_usage:", url_path="mqr"),
        ],
        "Investigate": [
            st.Page("pages/failed_rows.py", title="Failed rows", icon=":material/report:", url_path="failed_rows"),
            st.Page("pages/reconciliation.py", title="Reconciliation", icon=":material/compare_arrows:",
                    url_path="reconciliation"),
        ],
    })


def run(page) -> None:
    """Draw the header, then the page; a page's failure becomes a message with a next step."""
    choice = workspace_choice()
    workspace_header(choice)  # never stops the run: the page shows any problem with its next step
    _run.inside_app = True
    try:
        page.run()
    except Exception as exc:  # st.stop and st.rerun are not Exceptions, so they pass through
        unexpected(exc, choice.path)
    finally:
        _run.inside_app = False


def require_app() -> None:
    """First call of every page: if app.py is not running it, leave the legacy mode and rerun through app.py."""
    if not getattr(_run, "inside_app", False):
        configure()  # before the navigation, whose page icon would otherwise become the tab's icon
        navigation()
        st.rerun()
