"""What a vendor's sandbox is made of, as the core sees it: a state class and an API class, under a name."""

from __future__ import annotations

from dataclasses import dataclass

from .api import VendorApi
from .fault_store import FAULTS_SCHEMA, FaultStore
from .request_log import REQUEST_LOG_SCHEMA, RequestLog


class SandboxStore(RequestLog, FaultStore):
    """A sandbox's state file: the request log and the faults every vendor has. A vendor subclasses it with its
    records, its schema (`SCHEMAS = CORE_SCHEMAS + (its Schema,)`) and its fault catalog (`FAULTS`)."""

    CORE_SCHEMAS = (REQUEST_LOG_SCHEMA, FAULTS_SCHEMA)
    SCHEMAS = CORE_SCHEMAS

    def add_project(self, name: str, api_key: str, *, rate_limits: bool = True) -> None:
        """Create the account (project) a credential opens, or give an existing one this credential."""
        raise NotImplementedError


@dataclass(frozen=True)
class Vendor:
    name: str  # as workspace.toml names it: [sandboxes.NAME] vendor = "iterable"
    title: str  # for people: "Iterable"
    state: type[SandboxStore]
    api: type[VendorApi]
    default_port: int
