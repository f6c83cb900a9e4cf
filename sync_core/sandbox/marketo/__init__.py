"""The Marketo sandbox: Marketo's REST API for custom activities on loopback, built on the sandbox core and laid
out as every vendor's package is (sandbox/__init__.py). Marketo's own: an HTTP-200 error envelope, limits in
flight, per 20 s and per day (`api.py`), instances with credentials, tokens and a quota, leads and activity types
(`state.py`), and `activity_batch.py`: how one add-activities call is checked and stored."""

from __future__ import annotations

from ..core import SandboxServer, Vendor
from .api import MarketoApi
from .state import MarketoState

MARKETO = Vendor(name="marketo", title="Marketo", state=MarketoState, api=MarketoApi, default_port=8766)


class MarketoSandbox(SandboxServer):
    """The Marketo sandbox on a real port; `port=0` picks a free one."""
    VENDOR = MARKETO


__all__ = ["MARKETO", "MarketoApi", "MarketoSandbox", "MarketoState"]
