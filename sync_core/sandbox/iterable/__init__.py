"""The Iterable sandbox: Iterable's user, event and list APIs on loopback, built on the sandbox core and laid out
as every vendor's package is (sandbox/__init__.py: `api.py`, `state.py`, `faults.py`, `schema.py`). Its own
modules: `user_batch.py` (how one bulkUpdate is applied), `events.py` (custom events) and `lists.py` (static
lists and their members)."""

from __future__ import annotations

from ..core import SandboxServer, Vendor
from .api import IterableApi
from .state import IterableState

ITERABLE = Vendor(name="iterable", title="Iterable", state=IterableState, api=IterableApi, default_port=8765)


class IterableSandbox(SandboxServer):
    """The Iterable sandbox on a real port; `port=0` picks a free one."""
    VENDOR = ITERABLE


__all__ = ["ITERABLE", "IterableApi", "IterableSandbox", "IterableState"]
