"""Local sandboxes of destination APIs, served over real HTTP on loopback, for the demo and the tests.

- `core/`: what every vendor shares: the HTTP server, the request pipeline (log, routing, credentials, faults,
  rate limits), fault selection and storage, the request log, the state file and its migration runner. Time
  comes from `sync_core.clock`.
- `iterable/`: Iterable's user, event and list APIs: its routes and envelope, its records, its own fault kinds.
- `marketo/`: Marketo's REST API for custom activities: identity, leads, activity types, activities, limits.
- `vendors.py`: the registry of vendors by name; `serve.py`: serving them from a command line.

Each vendor's package is laid out alike: `api.py` (the routes and what each answers, the vendor's error
envelope, its own fault kinds' effects), `state.py` (its records in the state file), `faults.py` (the endpoints
faults can name and the fault kinds: the core's HTTP ones and the vendor's), `schema.py` (its tables, a
migration list the core's runner applies) and `__init__.py` (its `Vendor` and its server class).

Adding a vendor (say Marketo):
1. Copy `iterable/` to `marketo/`. In `schema.py`, give your tables a `Schema("marketo", ...)` (table names
   prefixed `marketo_`); the core's runner applies it and records its version apart from the others.
2. `state.py`: subclass `core.SandboxStore`, with `SCHEMAS = SandboxStore.CORE_SCHEMAS + (MARKETO_SCHEMA,)`,
   `FAULTS` (a `FaultCatalog` of your endpoint names and `HTTP_KINDS` plus your kinds), `WRITE_ENDPOINT`, and
   the records your API keeps.
3. `api.py`: subclass `core.VendorApi`: `ROUTES`, `account_for` (which account a credential opens),
   `error_reply` and the replies built on it (Marketo: HTTP 200 with `success: false`), and `FAULT_EFFECTS`
   (`HTTP_FAULT_EFFECTS` plus effects for your kinds). The pipeline, faults and the log come with it.
4. `__init__.py`: a `Vendor(name, title, state, api, default_port)` and its server, a `core.SandboxServer`
   subclass naming it (`VENDOR = MARKETO`); register it in `vendors.py`, and add its name to
   `sandbox_settings.SANDBOX_VENDORS` so workspace.toml can declare `[sandboxes.NAME] vendor = "marketo"`.
5. Tests in `tests/sandbox/`, over real HTTP, as Iterable's are.

Iterable's are `IterableSandbox` (its server) and `IterableState` (its state file); the vendor-neutral server is
`core.SandboxServer(path, vendor)`.
"""

from ..clock import Clock, ManualClock, ScaledClock, SystemClock
from .iterable import ITERABLE, IterableApi, IterableSandbox, IterableState
from .marketo import MARKETO, MarketoApi, MarketoSandbox, MarketoState
from .vendors import VENDORS, vendor_named

__all__ = [
    "Clock",
    "ITERABLE",
    "IterableApi",
    "IterableSandbox",
    "IterableState",
    "MARKETO",
    "ManualClock",
    "MarketoApi",
    "MarketoSandbox",
    "MarketoState",
    "ScaledClock",
    "SystemClock",
    "VENDORS",
    "vendor_named",
]
