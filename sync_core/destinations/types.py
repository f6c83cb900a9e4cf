"""What a destination type declares about itself, as plain data: config validation reads it before anything
of the destination is imported (so a new type costs one entry in catalog.py, and config.py names no vendor)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class ObjectType:
    """One API object of a destination type (Iterable's users), and how a sync may write to it."""
    modes: tuple[str, ...]  # "update" never creates a record; "upsert" may; "insert" appends (events)
    match_fields: tuple[str, ...]  # what identifies a record: the [match] field a sync may use
    implementation: str  # "module:Class" of its DestinationObject (base.py), imported when a sync opens it;
    # constructed as Class(config, sync, api_key, limits), with LIMITS: endpoint -> ratelimit.Limit, and
    # Class.rule_for(sync): its IdentifierRule for that sync, before any secret is resolved
    events: bool = False  # its records are events: a sync names them (event_settings.py) and may send many per person

    def load(self) -> type:
        module, _, name = self.implementation.partition(":")
        return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class DestinationType:
    name: str  # workspace.toml's `type`
    default_base_url: str
    max_batch_size: int  # records one request may carry
    objects: dict[str, ObjectType]
