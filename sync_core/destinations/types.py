"""What a destination type declares about itself, as plain data: config validation reads it before anything
of the destination is imported (so a new type costs one entry in catalog.py, and config.py names no vendor)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SyncKey:
    """A key of a sync's table in workspace.toml that only syncs to one object take (Marketo's `activity_type`,
    Iterable's `list_id`). config.py reads every declared key one way into `SyncConfig.options`: a text that is
    not blank (or a whole number, kept as text), and names the file and key when it is wrong."""
    name: str
    means: str  # what its value is, for messages: "the list's name, looked up when a run starts"
    example: str  # a value as workspace.toml writes it, for messages: '"Customers"', '123'
    required: bool = False
    one_of: str = ""  # a group name: of the keys in one group, a sync gives exactly one (list_id or list_name)
    whole_number: bool = False  # a whole number is taken too (Iterable's list_id), kept as text


@dataclass(frozen=True)
class ObjectType:
    """One API object of a destination type (Iterable's users), and how a sync may write to it."""
    modes: tuple[str, ...]  # "update" never creates a record; "upsert" may; "insert" appends (events)
    match_fields: tuple[str, ...]  # what identifies a record: the [match] field a sync may use
    implementation: str  # "module:Class" of its DestinationObject (base.py), imported when a sync opens it;
    # constructed as Class(config, sync, credential, limits), with LIMITS: endpoint -> ratelimit.Limit; the
    # credential is the api_key, or (client_id, client_secret) for a type whose secrets are those; and
    # Class.rule_for(sync): its IdentifierRule for that sync, before any secret is resolved
    # Its records are events: a sync names them with its sync_keys (SyncConfig.event, event_settings.py) and may
    # send many per person
    events: bool = False
    sync_keys: tuple[SyncKey, ...] = ()  # what a sync of it gives beside every sync's keys (Marketo: activity_type)
    required_fields: tuple[str, ...] = ()  # destination fields a sync must map (Marketo: activityDate)
    mappings_required: bool = True  # False: a sync may map no field (a list's members need only their identifier)

    def load(self) -> type:
        module, _, name = self.implementation.partition(":")
        return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class DestinationType:
    name: str  # workspace.toml's `type`
    default_base_url: str
    max_batch_size: int  # records one request may carry
    objects: dict[str, ObjectType]
    default_rate_limit_reserve: float = 0.0  # share of the vendor's limits left to other integrations
    secrets: tuple[str, ...] = ("api_key",)  # the keys of its credential, each a secret reference
    # The key naming the vendor's account when it decides base_url (Marketo's munchkin_id), its pattern, and
    # default_base_url's placeholder for it ("https://{munchkin_id}.mktorest.com").
    account_key: str | None = None
    account_pattern: str = ""
    # Settings of its own, name -> default: a whole number >= 1, or a share in [0, 1) for a float default
    # (Marketo: daily_quota, daily_quota_reserve); config.py reads them into DestinationConfig.settings.
    settings: dict[str, int | float] = field(default_factory=dict)
    # "module:function" of its `sync-core doctor` checks, called as function(workspace, config, clock) and
    # returning doctor Checks (doctor/checks.py); imported only when doctor runs. None: doctor says it cannot check.
    health_check: str | None = None

    def load_health_check(self):
        module, _, name = (self.health_check or "").partition(":")
        return getattr(importlib.import_module(module), name) if module else None
