"""The Marketo sandbox: Marketo's REST API for custom activities on loopback, built on the sandbox core.

- `api.py`: the routes and what each answers, Marketo's HTTP-200 error envelope, its limits (in flight, per 20 s,
  daily quota) and its own fault kinds' effects; `activity_batch.py`: how one add-activities call is checked and
  stored;
- `state.py`: instances (credentials, tokens, quota), leads, activity types and activities in the state file;
- `faults.py`: the endpoints faults can name and the fault kinds (the core's HTTP ones and Marketo's);
- `schema.py`: Marketo's tables, a migration list the core's runner applies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core import SandboxServer, Vendor
from .api import MarketoApi
from .state import MarketoState

MARKETO = Vendor(name="marketo", title="Marketo", state=MarketoState, api=MarketoApi, default_port=8766)


class MarketoSandbox(SandboxServer):
    """The Marketo sandbox on a real port; `port=0` picks a free one."""

    def __init__(self, state_path: str | Path, **options: Any) -> None:
        super().__init__(state_path, MARKETO, **options)


__all__ = ["MARKETO", "MarketoApi", "MarketoSandbox", "MarketoState"]
