"""A workspace the user cannot write, and a full disk: reading commands still work and never write; a run that
cannot write stops with a message naming the file and what to check, and the next run continues."""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
from contextlib import contextmanager

import pytest

from sync_core import invariant_violations

from test_damage import READ_COMMANDS, assert_refused, cli, synced  # noqa: F401 (a fixture)


def fingerprint(folder) -> dict[str, tuple[int, str]]:
    """Every file of the folder: its mtime and a digest of its bytes."""
    return {p.name: (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in folder.iterdir() if p.is_file()}


@contextmanager
def read_only(*paths):
    """Make files and folders read-only for this process, even as root: `chattr +i` (root ignores permission
    bits), else the bits. Skips where neither holds (a filesystem without the immutable attribute, as root)."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", *map(str, paths)]).returncode:
            pytest.skip("running as root without `chattr +i`: no way to make a folder read-only")
        undo = ["chattr", "-i", *map(str, paths)]
    else:
        modes = {p: p.stat().st_mode for p in paths}
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
        undo = None
    try:
        yield
    finally:
        if undo:
            subprocess.run(undo, check=True)
        else:
            for p, mode in modes.items():
                p.chmod(mode)


def without_figures(text: str) -> str:
    """The text with its numbers masked: `syncs` says "next run in 23 h 59 min", which the minute changes."""
    return re.sub(r"\d+", "#", text)


def test_reading_commands_work_on_a_read_only_workspace_and_write_nothing(synced):
    demo = synced
    folder = demo.workspace.state_path.parent
    expected = {tuple(args): without_figures(cli(demo, *args).stdout) for args in READ_COMMANDS}
    before = fingerprint(folder)
    with read_only(folder, demo.workspace.state_path):
        for args in READ_COMMANDS:
            done = cli(demo, *args)
            assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
            assert without_figures(done.stdout) == expected[tuple(args)]
        run = cli(demo, "run", "iterable-production")
        assert_refused(run, demo.workspace.state_path, "cannot write the state store", "permissions")
    assert fingerprint(folder) == before  # not a byte, not an mtime, no -wal or -shm


def limit_file_size(limit: int):
    """For a child process: files it writes cannot grow past `limit` bytes (EFBIG, as a full disk gives ENOSPC;
    Python ignores SIGXFSZ)."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_full_disk_stops_the_run_with_a_message_and_the_next_run_continues(demo):
    assert cli(demo, "run", "iterable-first-namespace").returncode == 0  # a state store of some size
    path = demo.workspace.state_path
    stopped = cli(demo, "run", "iterable-production", preexec_fn=limit_file_size(path.stat().st_size + 16_384))
    out = stopped.stdout + stopped.stderr
    assert stopped.returncode != 0 and "Traceback" not in out, out
    for words in (f"cannot write the state store {path}", "free space", "confirmed are kept",
                  "the next run continues"):
        assert words in out, (words, out)

    rerun = json.loads(cli(demo, "run", "iterable-production", "--json").stdout)
    assert rerun["status"] == "warning" and invariant_violations(rerun["counts"]) == []
    assert {k.lower() for k in demo.snapshot()} == {i for i in demo.stored() if "@" in i}
