"""Local sandboxes of destination APIs, served over real HTTP on loopback."""

from ..clock import Clock, ManualClock, ScaledClock, SystemClock
from .iterable import IterableApi
from .server import SandboxServer
from .state import SandboxState

__all__ = [
    "Clock",
    "IterableApi",
    "ManualClock",
    "SandboxServer",
    "SandboxState",
    "ScaledClock",
    "SystemClock",
]
