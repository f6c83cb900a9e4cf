"""`[sandboxes.NAME]` (and the older `[sandbox]`) in workspace.toml: the local sandboxes of vendors' APIs a workspace
runs against. Kept apart from config.py, which calls `parse_sandboxes` with its reader of the file; it imports
nothing of config.py's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import ConfigError
from .secrets import SecretRef, parse_secret_ref

# Vendors a local sandbox can stand in for (sandbox.vendors.VENDORS; a test keeps the two in step).
SANDBOX_VENDORS = ("iterable", "marketo")


@dataclass(frozen=True)
class SandboxConfig:
    """A local sandbox of a vendor's API that the workspace runs against (the demo's Iterable)."""
    state: Path
    port: int
    project: str
    api_key: SecretRef
    name: str = "iterable"
    vendor: str = "iterable"
    key: str = "sandbox"  # its table in workspace.toml, for messages: "sandbox" or "sandboxes.<name>"


def parse_sandboxes(top, root: Path, check_name: Callable) -> dict[str, SandboxConfig]:
    """`[sandboxes.NAME]` tables, and `[sandbox]`: the Iterable sandbox of workspaces written before several
    sandboxes could be declared (demo workspaces on disk have it). `top` is config.py's reader of the whole file;
    `check_name` its check of a table's name."""
    sandboxes = {name: _sandbox(s, root, name, check_name) for name, s in top.tables("sandboxes").items()}
    if "sandbox" in top.data:
        legacy = top.table("sandbox")
        if "iterable" in sandboxes:
            raise ConfigError(top.file, "sandbox", "declares the Iterable sandbox a second time: keep "
                                                   "[sandboxes.iterable] or [sandbox], not both")
        sandboxes["iterable"] = _sandbox(legacy, root, "iterable", check_name)
    ports: dict[int, str] = {}
    for sandbox in sandboxes.values():
        if sandbox.port in ports:
            raise ConfigError(top.file, f"{sandbox.key}.port",
                              f"port {sandbox.port} is also the port of [{ports[sandbox.port]}]: give each sandbox "
                              "its own")
        ports[sandbox.port] = sandbox.key
    return sandboxes


def _sandbox(s, root: Path, name: str, check_name: Callable) -> SandboxConfig:
    legacy = s.path == "sandbox"
    if legacy:
        s.only("state", "port", "project", "api_key")
        vendor = "iterable"
    else:
        check_name(s, "sandbox")
        s.only("vendor", "state", "port", "project", "api_key")
        vendor = s.get("vendor", str, choices=SANDBOX_VENDORS)
    return SandboxConfig(state=(root / s.get("state", str)).resolve(), port=s.get("port", int, 8765),
                         project=s.get("project", str, "demo"),
                         api_key=parse_secret_ref(s.data.get("api_key"), s.file, s.key("api_key")),
                         name=name, vendor=vendor, key=s.path)
