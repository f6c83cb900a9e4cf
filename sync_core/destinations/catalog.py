"""Every destination type, by workspace.toml's `type`: one entry per type (each declared in its own folder)."""

from .iterable import ITERABLE
from .marketo import MARKETO
from .types import DestinationType

DESTINATION_TYPES: dict[str, DestinationType] = {t.name: t for t in (ITERABLE, MARKETO)}
