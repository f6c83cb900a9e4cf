"""The vendors a sandbox can stand in for, by the name workspace.toml gives them (`vendor = "iterable"`)."""

from __future__ import annotations

from .core import Vendor
from .iterable import ITERABLE
from .marketo import MARKETO

VENDORS: dict[str, Vendor] = {vendor.name: vendor for vendor in (ITERABLE, MARKETO)}


def vendor_named(name: str) -> Vendor:
    if name not in VENDORS:
        raise ValueError(f"no sandbox for vendor {name!r} (vendors: {', '.join(VENDORS)})")
    return VENDORS[name]
