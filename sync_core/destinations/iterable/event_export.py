"""Iterable custom events read back for reconciliation: the `customEvent` export (`GET /api/export/data.json`,
JSON lines, no filter by name in Iterable's API) streamed through `EventLines`, which keeps the sync's events
and writes each as the flat line a reconciliation compares.

A kept line holds the event's id under `@id` (the sync's events are keyed by it: events.event_id), its mapped
fields from `dataFields` at the top level, and the event's own fields under reserved names (a mapped field
cannot start with '@'): `@eventName`, `@createdAt` (Iterable's `yyyy-MM-dd HH:mm:ss +00:00` text) and the person
(`@email`, folded as Iterable compares emails, or `@userId`).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import BinaryIO

from ...errors import DestinationError
from ..base import IdentifierRule, TransientError

ID_FIELD = "@id"
NAME_FIELD = "@eventName"
CREATED_FIELD = "@createdAt"


def person_field(label: str) -> str:
    """The line's member holding the event's person: `@email` or `@userId`."""
    return "@" + label


class EventLines:
    """A binary sink for the raw export: whole lines are parsed as they arrive, the sync's events written to `out`.
    `finish()` says whether the export ended on a whole line (a body cut off mid-line is a TransientError, after
    the whole lines before it were written)."""

    def __init__(self, out: BinaryIO, *, destination: str, event_name: str | None, fields: list[str],
                 person: IdentifierRule):
        self.out, self.destination, self.event_name = out, destination, event_name
        self.fields = [f for f in fields if not f.startswith("@")]  # the mapped ones, read from dataFields
        self.person, self.person_field = person, person_field(person.label)
        self._tail = b""

    def write(self, chunk: bytes) -> int:
        lines = (self._tail + chunk).split(b"\n")
        self._tail = lines.pop()  # what follows the last line break: the start of a line still arriving
        out = [self._line(line) for line in lines if line.strip()]
        self.out.write(b"".join(line for line in out if line))
        return len(chunk)

    def finish(self) -> None:
        if self._tail.strip():
            raise TransientError("MalformedResponse", "the export was cut off in the middle of a line")

    def _line(self, raw: bytes) -> bytes | None:
        try:
            event = json.loads(raw)
        except ValueError:
            raise TransientError("MalformedResponse", "the customEvent export sent a line that is not JSON") from None
        if not isinstance(event, dict):
            raise TransientError("MalformedResponse", "the customEvent export sent a line that is not an object")
        name = event.get("eventName")
        if self.event_name is not None and name != self.event_name:
            return None  # another event of the project: Iterable's export cannot leave it out
        event_id = event.get("id")
        if not isinstance(event_id, str) or not event_id:
            raise DestinationError(self.destination, "NoEventId",
                                   f"the customEvent export gave an event '{name}' without its id",
                                   "Reconciliation keys events by the id the sync sent, so it needs an export that "
                                   "carries ids; check the API key's project, or compare events with "
                                   "GET /api/events/{email} instead")
        data = event.get("dataFields")
        if not isinstance(data, dict):  # an export that flattens dataFields into the line
            data = event
        line = {ID_FIELD: event_id, NAME_FIELD: name, CREATED_FIELD: _iterable_time(event.get("createdAt")),
                self.person_field: self.person.python(event.get(self.person.label)) or None}
        for field in self.fields:
            if field in data:
                line[field] = data[field]
        return (json.dumps(line) + "\n").encode()


def _iterable_time(value):
    """createdAt as the export writes it (text), or as epoch seconds or milliseconds written as that text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1000 if value > 100_000_000_000 else value
        return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S +00:00")
    return value
