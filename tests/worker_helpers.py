"""Real `sync-core worker` processes and CLI calls over a demo workspace, for tests. Waits are bounded polls of
the state store, never assertions on time.

In its own module (not conftest.py) so that tests import it by a name no other conftest.py shadows."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from contextlib import contextmanager

from sync_core import StateStore

SYNC = "iterable-production"


def cli(demo, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "sync_core.cli", "-w", str(demo.root), *args],
                          capture_output=True, text=True, timeout=120)
    if check:
        assert done.returncode == 0, done.stderr
    return done


class WorkerProcess:
    """A `sync-core worker` process and what it has printed so far (read by a thread, so its pipe never fills)."""

    def __init__(self, demo, *args: str):
        self.process = subprocess.Popen([sys.executable, "-m", "sync_core.cli", "-w", str(demo.root), "worker", *args],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.pid, self.lines = self.process.pid, []
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True)
        self._reader.start()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def poll(self):
        return self.process.poll()


@contextmanager
def worker(demo, *args: str):
    w = WorkerProcess(demo, *args)
    try:
        wait_for(lambda: any(r.pid == w.pid and r.alive for r in store_of(demo, lambda s: s.workers())),
                 "the worker never registered", w)
        yield w
    finally:
        if w.poll() is None:
            w.process.kill()
        w.process.wait(timeout=30)


def store_of(demo, read):
    with StateStore(demo.workspace.state_path, read_only=True) as store:
        return read(store)


def runs(demo, sync_id: str = SYNC):
    return store_of(demo, lambda s: s.list_runs(sync_id=sync_id))


def wait_for(predicate, what: str, process=None, timeout: float = 180):
    """Poll until `predicate()`; a bound against hanging, not a measure of speed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what}: the worker exited ({process.poll()}): {process.output}")
        time.sleep(0.1)
    raise AssertionError(what)


def finished(demo, count: int, sync_id: str = SYNC):
    return lambda: len([r for r in runs(demo, sync_id) if r.status != "running"]) >= count
