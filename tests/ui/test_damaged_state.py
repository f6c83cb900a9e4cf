"""A damaged state store: the dashboard says so, names the file and the way back, and shows no traceback."""

from __future__ import annotations

import os


def test_a_damaged_state_store_shows_its_message_and_next_step(demo, open_app):
    demo.run("iterable-production")
    path = demo.workspace.state_path
    os.truncate(path, 0)
    for page in ("pages/runs.py", "pages/failed_rows.py"):
        at = open_app(demo.root, page)  # no exception element
        shown = " ".join(e.value for e in at.error) + " ".join(i.value for i in at.info)
        assert "is damaged" in shown and str(path) in shown and "sync-core state restore" in shown, shown
