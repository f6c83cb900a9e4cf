"""Filter widgets shared by pages, and how a widget takes its first value from the URL (deep links)."""

from __future__ import annotations

from datetime import timedelta
from typing import Callable

import streamlit as st

from sync_core import Workspace
from sync_core.history import Facets
from ui.formatting import day_bounds, local_date

DEFAULT_DAYS = 30  # the default date range: the last month of history (a year of runs is a lot to draw)


def sync_label(workspace: Workspace, sync_id: str) -> str:
    sync = workspace.syncs.get(sync_id)
    if sync is None:
        return f"{sync_id} (not in workspace.toml)"
    return sync.name if sync.name == sync_id else f"{sync.name} ({sync_id})"


def titled(workspace: Workspace, sync_id: str) -> str:
    """The sync's name in bold, with its id where display names repeat (the seed's do): the id tells them apart."""
    sync = workspace.syncs.get(sync_id)
    if sync is None:
        return f"**{sync_id} (not in workspace.toml)**"
    twins = sum(s.name == sync.name for s in workspace.syncs.values()) > 1
    return f"**{sync.name}**" + (f" `{sync_id}`" if twins else "")


def sync_ids(workspace: Workspace, facets: Facets) -> list[str]:
    """Declared syncs in file order, then syncs that only the history knows (removed or renamed since)."""
    return list(workspace.syncs) + [s for s in facets.sync_ids if s not in workspace.syncs]


def seed_from_url(key: str, param: str, parse: Callable[[str], object], allowed) -> str | None:
    """Give a widget its first value from the URL's `param`; returns the raw value if it was not usable."""
    raw = st.query_params.get(param)
    if key in st.session_state or raw is None:
        return None
    try:
        value = parse(raw)
    except ValueError:
        return raw
    if value not in allowed:
        return raw
    st.session_state[key] = value
    return None


def to_url(param: str, value) -> None:
    """Keep the URL in step with a widget, so the address bar is a link to what is on screen."""
    if value is None:
        st.query_params.pop(param, None)
    elif st.query_params.get(param) != str(value):
        st.query_params[param] = str(value)


def date_range(facets: Facets, key: str) -> tuple[str, str]:
    """Local days to UTC bounds [since, until); the default is the last DEFAULT_DAYS days of history. When new
    runs extend the history, the range moves back to the default, so an open page shows last night's runs."""
    first, last = local_date(facets.first_started), local_date(facets.last_started)
    default = (max(first, last - timedelta(days=DEFAULT_DAYS - 1)), last)
    span_key = f"{key}__span"
    if key not in st.session_state or st.session_state.get(span_key) != (first, last):
        st.session_state[key] = default
        st.session_state[span_key] = (first, last)
    picked = st.date_input("Dates", min_value=first, max_value=last, key=key,
                           help="Runs started on these days (local time). The history spans "
                                f"{first:%Y-%m-%d} to {last:%Y-%m-%d}.")
    picked = picked if isinstance(picked, (tuple, list)) else (picked,)
    start = picked[0] if picked else default[0]
    end = picked[1] if len(picked) > 1 else start  # mid-selection in the browser: one day so far
    return day_bounds(start, end)
