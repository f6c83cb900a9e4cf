"""The CLI's progress line: the observer (progress.RunObserver) its commands pass to long work."""

from __future__ import annotations

import sys


class TerminalProgress:
    """A one-line progress bar on stderr when it is a terminal; plain phase lines otherwise, unless
    `plain_phases` is off (`sync-core up`'s log, where each run prints a line of its own when it ends)."""

    def __init__(self, stream=sys.stderr, *, plain_phases: bool = True):
        self.stream = stream
        self.tty = stream.isatty()
        self.plain_phases = plain_phases
        self._phase = ""

    def phase(self, name: str) -> None:
        self._end_line()
        self._phase = name
        if not self.tty and not self.plain_phases:
            return
        self.stream.write(f"{name}...\n" if not self.tty else f"\r{name}...")
        self.stream.flush()

    def progress(self, done: int, total: int) -> None:
        if not self.tty or total <= 0:
            return
        width = 30
        filled = int(width * done / total)
        self.stream.write(f"\r{self._phase:<7} [{'#' * filled}{'.' * (width - filled)}] "
                          f"{100 * done / total:5.1f}%  {done:,}/{total:,} rows")
        self.stream.flush()

    def note(self, text: str) -> None:
        self._end_line()
        self.stream.write(f"  note: {text}\n")
        self.stream.flush()

    def _end_line(self) -> None:
        if self.tty and self._phase:
            self.stream.write("\n")

    def close(self) -> None:
        self._end_line()
        self._phase = ""
