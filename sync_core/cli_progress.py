"""The CLI's progress line: the observer (progress.RunObserver) its commands pass to long work."""

from __future__ import annotations

import sys


class TerminalProgress:
    """A one-line progress bar on stderr when it is a terminal; plain phase lines otherwise, unless
    `plain_phases` is off (`sync-core up`'s log, where each run prints a line of its own when it ends).
    Output that cannot be written (the reader of a pipe gone, `| head`; a closed terminal) is dropped: the run
    goes on, since progress is not the run's work."""

    def __init__(self, stream=sys.stderr, *, plain_phases: bool = True):
        self.stream = stream
        self.tty = stream.isatty()
        self.plain_phases = plain_phases
        self._phase = ""

    def _write(self, text: str) -> None:
        if self.stream is None:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except OSError:  # BrokenPipeError, EIO: nobody reads it any more
            self.stream = None

    def phase(self, name: str) -> None:
        self._end_line()
        self._phase = name
        if not self.tty and not self.plain_phases:
            return
        self._write(f"{name}...\n" if not self.tty else f"\r{name}...")

    def progress(self, done: int, total: int) -> None:
        if not self.tty or total <= 0:
            return
        width = 30
        filled = int(width * done / total)
        self._write(f"\r{self._phase:<7} [{'#' * filled}{'.' * (width - filled)}] "
                    f"{100 * done / total:5.1f}%  {done:,}/{total:,} rows")

    def note(self, text: str) -> None:
        self._end_line()
        self._write(f"  note: {text}\n")

    def _end_line(self) -> None:
        if self.tty and self._phase:
            self._write("\n")

    def close(self) -> None:
        self._end_line()
        self._phase = ""
