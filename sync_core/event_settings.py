"""The settings of a sync whose destination object is an event (Iterable custom events): the event's name, fixed
or from a column, and the column holding when it happened.

    event_name = "First Namespace Created"      # or: event_name_column = "event_type"
    created_at = "first_namespace_created_at"   # optional: without it, each event is dated at the run's time

They travel with the mapped fields through the planner under reserved field names (EVENT_NAME_FIELD,
CREATED_AT_FIELD): hashed with them, so a changed name or time resends the row, and handed to the destination
in each row's values. The keys are declared with the event object (destinations/iterable/__init__.py EVENT_KEYS)
and validated by config.py like any object's sync keys; `from_options` types what it read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import pyarrow as pa

from .errors import ConfigError

# Reserved field names: '@' cannot start a mapped field (config.py refuses it), so they never clash.
EVENT_NAME_FIELD = "@eventName"
CREATED_AT_FIELD = "@createdAt"


@dataclass(frozen=True)
class EventSettings:
    key: str  # "syncs.<id>", for messages naming a setting
    name: str | None = None  # the fixed event name
    name_column: str | None = None  # or the model column holding each row's event name
    created_at_column: str | None = None  # None: the run's time

    def columns(self) -> tuple[tuple[str, str], ...]:
        """(model column, reserved field) of what the settings read from each row."""
        out = []
        if self.name_column:
            out.append((self.name_column, EVENT_NAME_FIELD))
        if self.created_at_column:
            out.append((self.created_at_column, CREATED_AT_FIELD))
        return tuple(out)


def from_options(key: str, options: Mapping[str, str]) -> EventSettings:
    """The settings of the event sync at `key` ("syncs.<id>") from its sync keys, as config.py validated them:
    exactly one of event_name and event_name_column, none of them blank."""
    return EventSettings(key, name=options.get("event_name"), name_column=options.get("event_name_column"),
                         created_at_column=options.get("created_at"))


def check_event_columns(file: str, settings: EventSettings, model: str, schema: pa.Schema) -> None:
    """The columns the settings name exist in the model, with types they can be read as: a config error naming
    the setting, before the query runs."""
    names = [f.name for f in schema]
    checks = (("event_name_column", settings.name_column, _is_text, "text (VARCHAR)"),
              ("created_at", settings.created_at_column, _is_time,
               "a TIMESTAMP, a DATE, or text holding ISO times"))
    for key, column, fits, wanted in checks:
        if column is None:
            continue
        if column.lower() not in names:
            raise ConfigError(file, f"{settings.key}.{key}", f"column '{column}' is not returned by model "
                                                             f"'{model}' (columns: {', '.join(names)})")
        kind = schema.field(column.lower()).type
        if not fits(kind):
            raise ConfigError(file, f"{settings.key}.{key}",
                              f"column '{column}' of model '{model}' is {kind}, not {wanted}: convert it in the "
                              "model's SQL (TO_TIMESTAMP(<seconds>) for Unix seconds, TO_VARCHAR for a name)")


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _is_time(kind: pa.DataType) -> bool:
    return pa.types.is_timestamp(kind) or pa.types.is_date(kind) or _is_text(kind)
