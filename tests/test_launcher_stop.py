"""`sync-core up`'s stop: a second Ctrl-C while it waits for its children hurries the stop, and never leaves a
child running (the worker and the sandbox have sessions of their own: nothing else would stop them)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from sync_core import launcher

STUBBORN = """import signal, time
signal.signal(signal.SIGTERM, lambda *_: print("term", flush=True))  # heard, and ignored
print("ready", flush=True)
while True:
    time.sleep(1)
"""


def test_a_second_ctrl_c_while_stopping_kills_the_children_left_and_abandons_none():
    children = [subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, text=True,
                                 start_new_session=True) for _ in range(3)]
    original = signal.getsignal(signal.SIGINT)
    try:
        for child in children:
            assert child.stdout.readline() == "ready\n"

        def second_ctrl_c():  # once the stop has asked the first child (the last started) to end
            if children[-1].stdout.readline() == "term\n":
                os.kill(os.getpid(), signal.SIGINT)
        sender = threading.Thread(target=second_ctrl_c, daemon=True)
        sender.start()
        try:
            launcher._stop(children, patient=children[1])
        except KeyboardInterrupt:
            pass  # the stop gave up: the children's state below says what it left
        sender.join(timeout=60)
        assert [c.poll() for c in children] == [-signal.SIGKILL] * 3, "every child is stopped, none abandoned"
        assert signal.getsignal(signal.SIGINT) is original, "Ctrl-C is the caller's again"
    finally:
        signal.signal(signal.SIGINT, original)
        for child in children:
            if child.poll() is None:
                child.kill()
            child.wait(timeout=30)
            child.stdout.close()


SLEEPER = "import time\nprint('ready', flush=True)\ntime.sleep(600)\n"


def _sleeper() -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", SLEEPER], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "ready\n"
    return child


def test_a_child_that_stops_beside_the_dashboard_is_said_and_started_again_once_a_minute(capsys):
    """`up` keeps its worker and sandbox running: one killed is started again in its place (stopped in the same
    order at the end); one that keeps stopping is left stopped, said once."""
    kept = launcher.Kept()
    kept.AGAIN_AFTER_SECONDS = 3600  # "within a minute" on any machine, however busy

    def wait_until(done, what: str) -> None:
        deadline = time.monotonic() + 120  # a bound on a hang, not a timing assertion
        while not done():
            assert time.monotonic() < deadline, what
            time.sleep(0.05)
    sandbox, worker, app = kept.add("sandbox", _sleeper), kept.add("worker", _sleeper), _sleeper()
    children = [sandbox, worker, app]
    ended = threading.Event()
    watching = threading.Thread(target=lambda: (kept.watch(app, children, poll_seconds=0.05), ended.set()),
                                daemon=True)
    try:
        watching.start()
        worker.kill()
        worker.wait()
        wait_until(lambda: kept.current("worker") not in (worker, None), "the worker was never started again")
        again = kept.current("worker")
        assert again.poll() is None and children == [sandbox, again, app]
        again.kill()  # again within a minute: left stopped
        again.wait()
        wait_until(lambda: kept.current("worker") is None, "the second stop was never seen")
        app.terminate()
        watching.join(timeout=60)
        assert ended.is_set()
        said = capsys.readouterr().out
        assert "The worker stopped (killed by SIGKILL): starting it again." in said
        assert "The worker stopped again (killed by SIGKILL) within a minute: not starting it again." in said
        assert said.count("The worker") == 2 and "sandbox" not in said
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
            child.wait(timeout=30)
