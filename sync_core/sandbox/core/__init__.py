"""What every vendor's sandbox shares: real HTTP on loopback (`server.py`), the request pipeline and its fault
effects (`api.py`), fault selection and storage (`faults.py`, `fault_store.py`), the request log
(`request_log.py`), the SQLite file and its migration runner (`database.py`), and what a vendor provides
(`vendor.py`). Time comes from `sync_core.clock`, shared with the engine so tests can drive both with one clock.

Nothing here knows a vendor; each vendor's package (`sandbox/iterable/`) builds on this.
"""

from .api import HTTP_FAULT_EFFECTS, Body, Call, FaultEffect, Reply, Route, VendorApi, json_reply
from .database import SandboxDatabase, Schema
from .faults import (ALL_ENDPOINTS, HTTP_KINDS, ConnectionDropped, Fault, FaultCatalog, FaultKind, FaultSpec,
                     Param)
from .server import SandboxServer
from .vendor import SandboxStore, Vendor

__all__ = [
    "ALL_ENDPOINTS", "Body", "Call", "ConnectionDropped", "Fault", "FaultCatalog", "FaultEffect", "FaultKind",
    "FaultSpec", "HTTP_FAULT_EFFECTS", "HTTP_KINDS", "Param", "Reply", "Route", "SandboxDatabase", "SandboxServer",
    "SandboxStore", "Schema", "Vendor", "VendorApi", "json_reply",
]
