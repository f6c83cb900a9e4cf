"""The Overview (AppTest) shows each Marketo destination's daily quota as the sandbox counts it, and calls for
action, naming the reset (midnight US Central), once the quota is used up."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import streamlit as st
from sync_core.demo.workspace import MARKETO_INSTANCE
from sync_core.marketo_day import reset_time_text
from sync_core.sandbox import MarketoState

from demo_helpers import demo_workspace


def quota_lines(at) -> list[str]:
    return [e.value for e in [*at.main.info, *at.main.warning, *at.main.error] if "**Marketo**:" in e.value]


def test_the_overview_shows_the_marketo_quota_and_an_error_once_it_is_used_up(tmp_path, open_app):
    with demo_workspace(tmp_path, marketo=True) as demo:
        state = MarketoState(demo.root / "sandbox" / "marketo.sqlite")
        try:
            at = open_app(demo.root, "pages/overview.py")
            [line] = quota_lines(at)
            used = state.daily_calls(MARKETO_INSTANCE, time.time())
            assert f"daily quota {used:,} of 50,000 calls used today" in line
            assert line in [i.value for i in at.main.info]  # plenty left: a note, not an action

            state.use_up_quota(MARKETO_INSTANCE, time.time())
            st.cache_data.clear()  # the page reads the quota at most every 5 minutes: as if they had passed
            before = reset_time_text(time.time())
            at = open_app(demo.root, "pages/overview.py")
            after = reset_time_text(time.time())
        finally:
            state.close()
        [error] = [e.value for e in at.main.error if "**Marketo**:" in e.value]
        assert "used up" in error and "0 left" in error
        # the reset, as every time on the page: in the reader's time zone (UTC here, with no browser to tell)
        shown = {datetime.fromisoformat(t).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S") for t in (before, after)}
        assert any(f"resets at {t} (midnight US Central)" in error for t in shown), error
