"""Update-only look-ups: a full export of identifiers first, then exports of recent changes only."""

from __future__ import annotations

import re
import time

import pytest

from sync_core import StateStore, lookup
from sync_core.clock import SystemClock
from sync_core.destinations.base import BatchRejected
from sync_core.errors import DestinationError
from sync_core.executor import Executor
from sync_core.demo.workspace import SANDBOX_PROJECT, advance_demo


def export_paths(demo, since_id):
    return [r for r in demo.sandbox.requests(endpoint="export/data.json", since_id=since_id)]


def test_later_runs_export_only_what_changed(demo, monkeypatch):
    # One machine, one clock: no margin for clock differences needed, and the runs are seconds apart.
    monkeypatch.setattr(lookup, "OVERLAP", 0)
    first = demo.run("iterable-production")
    assert any("full export" in n for n in first.notes)
    time.sleep(1.1)  # export windows have whole seconds: keep the first run's writes out of the third's window
    demo.run("iterable-production")  # writes nothing: no profile changes after its look-up began
    day = advance_demo(demo.workspace)  # the product creates some users
    third = demo.run("iterable-production")
    [note] = [n for n in third.notes if "Looked up" in n]
    new = int(re.search(r"([\d,]+) new since the last look-up", note)[1].replace(",", ""))
    assert new == len({u["email"].lower() for u in day.product_created_users})
    # ...and they are synced now, through that small export.
    created_and_valid = {u["email"] for u in day.product_created_users} & demo.valid_emails()
    assert created_and_valid and created_and_valid <= demo.snapshot()


def test_a_user_deleted_since_the_look_up_is_rejected_not_found_and_forgotten(demo):
    demo.run("iterable-production")
    victim = sorted(demo.snapshot())[0]
    demo.sandbox.delete_user(SANDBOX_PROJECT, email=victim)
    demo.edit_workspace("{ column = \"lead_score\", field = \"leadScore\" }",
                        "{ column = \"lead_score\", field = \"leadScoreV2\" }")  # every row changes: all are sent
    record = demo.run("iterable-production")
    with StateStore(demo.workspace.state_path) as store:
        [state] = store.rejections(key=victim)
        scope = store._db.execute("SELECT DISTINCT scope FROM known_identifiers").fetchone()[0]
        known = set(store.known_identifiers(scope)[0].to_pylist())
    assert (state.code, state.error_class) == ("NotFound", "expected")  # Iterable said so: updateOnly
    assert victim not in known
    assert demo.sandbox.get_user(SANDBOX_PROJECT, email=victim) is None  # and nobody was re-created
    assert record.counts.as_dict()["rejected_expected"] >= 1


def test_a_full_resync_refreshes_the_whole_list(demo):
    demo.run("iterable-production")
    resync = demo.run("iterable-production", full_resync=True)
    assert any("full export" in n for n in resync.notes)


class RefusedExport:
    """A destination whose export answers a 400 (the sandbox answers one only to a malformed request)."""
    name, lookup_scope = "iterable", "scope"

    def existing(self, updated_since):
        raise BatchRejected("BadParams", "onlyFields must name a user field")


def test_an_export_refused_as_a_whole_is_a_config_error_naming_the_destination(tmp_path):
    with StateStore(tmp_path / "state.sqlite") as store:
        pending = lookup.PendingLookup(store, RefusedExport(), Executor(RefusedExport()), SystemClock())
        with pytest.raises(DestinationError) as err:
            pending.result()
    assert str(err.value).startswith("destination 'iterable' answered BadParams: the look-up of existing records "
                                     "was refused: onlyFields must name a user field")
