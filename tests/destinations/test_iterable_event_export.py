"""The customEvent export's lines as a reconciliation reads them (event_export.EventLines): the sync's events
kept by name, flattened and keyed by id, whatever the chunking; a cut-off or garbled body is transient, an export
without event ids a clear error."""

from __future__ import annotations

import io
import json

import pytest

from sync_core.destinations.base import IdentifierRule, TransientError
from sync_core.destinations.iterable.event_export import EventLines
from sync_core.errors import DestinationError

EMAIL = IdentifierRule("email", case_insensitive=True, valid_pattern=None)
BODY = (b'{"email": " Ana@X.io", "eventName": "Signed Up", "id": "e1", "createdAt": "2026-01-02 03:04:05 +00:00", '
        b'"dataFields": {"plan": "pro", "other": 1}}\n'
        b'{"email": "bo@x.io", "eventName": "Clicked", "id": "e2", "dataFields": {}}\n'
        b'{"email": "cy@x.io", "eventName": "Signed Up", "id": "e3", "createdAt": 1767322800000, "plan": "free"}\n')


def read(body: bytes, chunk: int, event_name: str | None = "Signed Up") -> list[dict]:
    out = io.BytesIO()
    lines = EventLines(out, destination="iterable", event_name=event_name, fields=["plan", "@eventName"],
                       person=EMAIL)
    for start in range(0, len(body), chunk):
        lines.write(body[start:start + chunk])
    lines.finish()
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.mark.parametrize("chunk", [1, 7, 1 << 20])
def test_the_syncs_events_are_kept_flat_and_keyed_by_id_however_the_body_arrives(chunk):
    assert read(BODY, chunk) == [
        {"@id": "e1", "@eventName": "Signed Up", "@createdAt": "2026-01-02 03:04:05 +00:00", "@email": "ana@x.io",
         "plan": "pro"},
        # an export that flattens dataFields, with createdAt in epoch milliseconds, reads the same way
        {"@id": "e3", "@eventName": "Signed Up", "@createdAt": "2026-01-02 03:00:00 +00:00", "@email": "cy@x.io",
         "plan": "free"}]
    assert [e["@id"] for e in read(BODY, chunk, event_name=None)] == ["e1", "e2", "e3"]  # names from a column


def test_a_body_cut_mid_line_keeps_the_whole_lines_and_is_transient():
    out = io.BytesIO()
    lines = EventLines(out, destination="iterable", event_name="Signed Up", fields=[], person=EMAIL)
    lines.write(BODY[:-20])
    with pytest.raises(TransientError, match="cut off in the middle of a line"):
        lines.finish()
    assert [json.loads(line)["@id"] for line in out.getvalue().splitlines()] == ["e1"]
    with pytest.raises(TransientError, match="not JSON"):
        lines.write(b"{garbled\n")


def test_an_export_without_event_ids_is_a_clear_error():
    lines = EventLines(io.BytesIO(), destination="iterable", event_name="Signed Up", fields=[], person=EMAIL)
    with pytest.raises(DestinationError, match="event 'Signed Up' without its id.*keys events by the id"):
        lines.write(b'{"email": "a@x.io", "eventName": "Signed Up", "dataFields": {}}\n')
