"""The Iterable sandbox: Iterable's user API on loopback, built on the sandbox core.

- `api.py`: the routes and what each answers, Iterable's error envelope, and its own fault kinds' effects;
- `state.py`: projects (API keys) and users in the state file; `user_batch.py`: how one bulkUpdate is applied;
- `faults.py`: the endpoints faults can name and the fault kinds (the core's HTTP ones and Iterable's);
- `schema.py`: Iterable's tables, a migration list the core's runner applies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core import SandboxServer, Vendor
from .api import IterableApi
from .state import IterableState

ITERABLE = Vendor(name="iterable", title="Iterable", state=IterableState, api=IterableApi, default_port=8765)


class IterableSandbox(SandboxServer):
    """The Iterable sandbox on a real port; `port=0` picks a free one."""

    def __init__(self, state_path: str | Path, **options: Any) -> None:
        super().__init__(state_path, ITERABLE, **options)


__all__ = ["ITERABLE", "IterableApi", "IterableSandbox", "IterableState"]
