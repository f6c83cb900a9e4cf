"""What the benchmark scripts share: a free port, a bounded wait for a process to answer, stopping it, measuring a
child process (wall, CPU, peak RSS), a generated state store kept between runs, code versions side by side
(`--refs`), Markdown tables and the load average.

Standard library only at import time (requests when waiting for HTTP). The scripts import it as `bench_common`:
they run as `python bench/x.py`, so bench/ is on sys.path."""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(ready: Callable[[], bool], what: str, *, timeout: float, every: float = 0.1) -> None:
    """Call `ready` every `every` seconds until it is true; after `timeout` seconds, stop the benchmark saying
    `what` it waited for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(every)
    raise SystemExit(f"gave up waiting for {what} after {timeout:.0f} s")


def wait_for_http(url: str, what: str, *, timeout: float, processes: Iterable[subprocess.Popen] = (),
                  every: float = 0.1) -> None:
    """Wait until GET `url` answers 2xx; stop the benchmark if one of `processes` (what serves it) exits first."""
    import requests  # here: a measured child that imports this module for something else does not pay for it

    def answers() -> bool:
        for process in processes:
            if process.poll() is not None:
                raise SystemExit(f"{what} exited (code {process.returncode}) before it answered on {url}")
        try:
            return requests.get(url, timeout=2).ok
        except requests.RequestException:  # not listening yet
            return False
    wait_until(answers, f"{what} to answer on {url}", timeout=timeout, every=every)


def stop(process: subprocess.Popen, *, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Send `sig` and wait for the process to exit; past `timeout`, kill it (its whole process group if it
    leads one: `sync-core up` and Streamlit start children)."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
        process.wait()


# Runs the command after argv[1] and writes its exit code, wall time and the rusage of every process it waited
# for to argv[1] as JSON. Linux's ru_maxrss starts from the parent's resident size at fork and is not reset by
# exec, so the measured command must be a child of this small process, not of the benchmark (which may hold a
# large demo build in memory).
MEASURE = ("import json, resource, subprocess, sys, time\n"
           "started = time.perf_counter()\n"
           "code = subprocess.call(sys.argv[2:])\n"
           "wall = time.perf_counter() - started\n"
           "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
           "json.dump({'code': code, 'wall': wall, 'cpu': u.ru_utime + u.ru_stime, 'peak_kib': u.ru_maxrss},\n"
           "          open(sys.argv[1], 'w'))\n"
           "sys.exit(code)\n")


@dataclass
class Measured:
    code: int
    wall: float  # seconds from the command's start to its exit
    cpu: float  # user + system seconds of the command and every process it waited for
    peak_mb: float  # peak RSS of the largest of them
    stdout: bytes | None
    stderr: bytes | None


def measured(argv: list[str], **run: object) -> Measured:
    """Run `argv` under the MEASURE wrapper (`run`: subprocess.run's keywords: stdout, stderr, env, cwd...)."""
    with tempfile.NamedTemporaryFile("r", suffix=".json") as figures:
        done = subprocess.run([sys.executable, "-c", MEASURE, figures.name, *argv], **run)
        m = json.loads(figures.read() or '{"wall": 0, "cpu": 0, "peak_kib": 0}')
    return Measured(done.returncode, m["wall"], m["cpu"], m["peak_kib"] / 1024, done.stdout, done.stderr)


def generated_once(root: Path, parameters: dict, write: Callable[[Path], None]) -> Path:
    """A demo workspace at `root` (for its workspace.toml) whose state store `write(root)` fills: generated once,
    then reused while `root` (named for the `parameters`) holds a finished generation."""
    marker = root / ".sync-state" / "generated.json"
    if marker.exists():
        return root
    if root.exists():
        raise SystemExit(f"{root} holds an unfinished generation: delete it and run again")
    from sync_core.demo.workspace import init_demo

    init_demo(root, contacts=200)
    started = time.monotonic()
    write(root)
    marker.write_text(json.dumps({**parameters, "seconds": round(time.monotonic() - started)}))
    return root


def checkout(ref: str, into: Path) -> Path:
    """The code of `ref` in a folder: the working tree itself for `.`, else a `git archive` export."""
    if ref == ".":
        return ROOT
    folder = into / ref.replace("/", "_")
    folder.mkdir()
    archive = into / f"{folder.name}.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(ROOT), "archive", ref], stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    return folder


def add_refs_arguments(parser, *, rounds: int) -> None:
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--refs", default="main,.", help="comma-separated git refs; `.` is this working tree")


def interleaved(refs: list[str], rounds: int, prefix: str) -> Iterator[tuple[int, str, Path, Path]]:
    """Each round, each ref in turn, so every version meets the same load of the machine: (round, ref, its code,
    a scratch folder). The versions are exported once, into the scratch folder, removed at the end."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        code = {ref: checkout(ref, Path(tmp)) for ref in refs}
        for round_ in range(1, rounds + 1):
            for ref in refs:
                yield round_, ref, code[ref], Path(tmp)


def print_medians(values: dict[str, list[float]], describe: str) -> None:
    """Each ref's median (`describe`: a format with {median}, {n}), then the second's ratio to the first's."""
    medians = {ref: statistics.median(v) for ref, v in values.items()}
    for ref, median in medians.items():
        print(f"{ref}: " + describe.format(median=median, n=len(values[ref])))
    if len(medians) == 2:
        (a, base), (b, this) = medians.items()
        print(f"{b} / {a}: {this / base:.3f}")


def print_table(columns: list[str], rows: Iterable[Iterable[object]], *, left: int = 1) -> None:
    """A Markdown table of already formatted cells: the first `left` columns aligned left, the figures right."""
    print("| " + " | ".join(columns) + " |")
    print("|" + "|".join("---" if i < left else "---:" for i in range(len(columns))) + "|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


def load_average() -> str:
    """The load average line a benchmark's report carries (figures on a busy machine mean little without it)."""
    return (f"load average (1, 5, 15 min) {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
            f"on {os.cpu_count()} cores")
