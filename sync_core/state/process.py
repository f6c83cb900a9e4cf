"""Which process a run belongs to. A pid alone is not enough: after a reboot or a container restart, a dead run's
pid can belong to another live process (pid 1 in a container, often), and the run would look alive for ever.
So a run records its process's start time too, and a process counts as the run's only if both match.

And a pid means a process only where it was recorded: a run records its `host` too, and only a reader on the
same host asks about its pid (run_log.py: elsewhere, the run's lease alone says whether it is alive)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

PROC = Path("/proc")


def start_time(pid: int) -> int | None:
    """When the process started, in clock ticks since boot (/proc/<pid>/stat, field 22); None without /proc."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # Field 2, the command name, is in parentheses and may hold spaces or ')': split after its last ')'.
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[19])  # field 22 of the line; fields[0] is field 3


def host() -> str:
    """Where this process's pid names it: the host name, and on Linux its pid namespace (two containers of one
    machine are two places even when they share a host name, e.g. with the host's network)."""
    try:
        namespace = os.readlink(PROC / "self" / "ns" / "pid")  # 'pid:[4026531836]'
    except OSError:
        return socket.gethostname()
    return f"{socket.gethostname()} {namespace}"


def current() -> tuple[int, int | None]:
    """This process's pid and start time, as a run records them."""
    pid = os.getpid()
    return pid, start_time(pid)


def alive(pid: int | None, started: int | None) -> bool:
    """Is the process that recorded (pid, started) still running? Where the start time is unknown (a run
    recorded before it was stored, or no /proc), the pid alone decides."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by someone else
    if started is None:
        return True
    now = start_time(pid)
    return now is None or now == started
