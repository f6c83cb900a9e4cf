"""Serving sandboxes from a command line: `python -m sync_core.sandbox.serve --state FILE` for one, and `run` for
the sandboxes a workspace declares (`sync-core sandbox`). Faults are given as specs (FaultCatalog.parse_spec)."""

from __future__ import annotations

import argparse
import errno
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from .core import SandboxServer, SandboxStore, Vendor
from .vendors import VENDORS, vendor_named


@dataclass(frozen=True)
class Setup:
    """One sandbox to serve or prepare: its vendor, file and port, and the account its key opens."""

    vendor: Vendor
    state: Path
    port: int
    project: str | None = None
    api_key: str | None = None  # a secret: never printed
    host: str = "127.0.0.1"


def run(setups: list[Setup], *, faults: list[str] = (), clear_faults: bool = False, serve: bool = True,
        rate_limits: bool = True) -> int:
    """Apply the project and the fault options to each sandbox's file, then serve them all until Ctrl-C (unless
    `serve` is False). A bad fault spec raises ValueError before anything changes."""
    specs = [[setup.vendor.state.FAULTS.parse_spec(text) for text in faults] for setup in setups]
    if not serve:
        for setup, vendor_specs in zip(setups, specs):
            state = setup.vendor.state(setup.state)
            try:
                _prepare(state, setup, vendor_specs, clear_faults)
            finally:
                state.close()
        return 0
    servers: list[SandboxServer] = []
    try:
        for setup, vendor_specs in zip(setups, specs):
            try:
                server = SandboxServer(setup.state, setup.vendor, host=setup.host, port=setup.port,
                                       rate_limits=rate_limits)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                raise SystemExit(f"error: port {setup.port} is already in use, so the {setup.vendor.title} sandbox "
                                 "cannot listen there: stop what uses it (another `sync-core sandbox` or `up`?), or "
                                 "give the sandbox another port and its destination's base_url the same") from None
            servers.append(server)
            _prepare(server.state, setup, vendor_specs, clear_faults)
            print(f"{setup.vendor.title} sandbox listening on {server.url} (state: {setup.state})", flush=True)
        for server in servers:
            server.start()
        threading.Event().wait()  # until Ctrl-C
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers:
            server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    vendor = _vendor_of(argv)
    parser = argparse.ArgumentParser(
        description=f"Local sandbox of a vendor's API ({vendor.title} unless --vendor says otherwise).",
        epilog=vendor.state.FAULTS.help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--vendor", default=vendor.name, choices=sorted(VENDORS))
    parser.add_argument("--state", required=True, help="SQLite file holding the sandbox")
    parser.add_argument("--port", type=int, default=vendor.default_port)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--no-rate-limits", action="store_true")
    parser.add_argument("--project", help="ensure this project exists (needs --api-key)")
    parser.add_argument("--api-key", help="API key of --project")
    parser.add_argument(
        "--fault", action="append", default=[], type=_fault_spec(vendor), metavar="SPEC",
        help="inject a fault, e.g. users/bulkUpdate:server_error:status=503,times=2"
        " (ENDPOINT:KIND[:key=value,...]; repeatable)",
    )
    parser.add_argument("--clear-faults", action="store_true",
                        help="remove the state file's faults before adding --fault ones")
    parser.add_argument("--no-serve", action="store_true",
                        help="only apply --project and the fault options to the state file, e.g."
                        " to change the faults of a sandbox already running")
    args = parser.parse_args(argv)
    if (args.project is None) != (args.api_key is None):
        parser.error("--project and --api-key go together")
    setup = Setup(vendor, Path(args.state), args.port, args.project, args.api_key, args.host)
    return run([setup], faults=args.fault, clear_faults=args.clear_faults, serve=not args.no_serve,
               rate_limits=not args.no_rate_limits)


def _vendor_of(argv: list[str] | None) -> Vendor:
    """The --vendor named (its fault kinds decide what --fault accepts), read before the full parse."""
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--vendor", default="iterable", choices=sorted(VENDORS))
    known, _ = early.parse_known_args(argv)
    return vendor_named(known.vendor)


def _fault_spec(vendor: Vendor):
    def parse(text: str) -> str:
        try:
            vendor.state.FAULTS.parse_spec(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return text
    return parse


def _prepare(state: SandboxStore, setup: Setup, specs: list, clear_faults: bool) -> None:
    if setup.project:
        state.add_project(setup.project, setup.api_key)
    if clear_faults:
        state.clear_faults()
    for spec in specs:
        state.add_fault(spec.endpoint, spec.kind, **spec.options)
    for fault in state.faults():
        print(f"fault {fault['id']}: {_describe(fault)}", flush=True)


def _describe(fault: dict) -> str:
    settings = {name: fault[name] for name in ("after", "times", "probability", "seed")}
    details = ", ".join(f"{k}={v}" for k, v in {**fault["params"], **settings}.items())
    return f"{fault['endpoint']} {fault['kind']} ({details}; hit {fault['hits']} so far)"


if __name__ == "__main__":
    sys.exit(main())
