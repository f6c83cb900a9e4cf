"""Work run on a thread of its own beside the caller's, joined where its result is needed.

A run's bulk state work (SQLite writes, DuckDB joins) mostly releases the GIL, so beside the run's other work
it takes the machine's idle core instead of the run's wall time."""

from __future__ import annotations

import threading
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Beside(Generic[T]):
    """`work()` started at once on a daemon thread; `join()` waits for it and returns its result, or raises what
    it raised. Always join it before what it reads is freed (a crash of the process stops it, as it would stop
    the same work on the caller's thread)."""

    def __init__(self, name: str, work: Callable[[], T]):
        self._result: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), name=name, daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], T]) -> None:
        try:
            self._result = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the thread that joins
            self._error = exc

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def join(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result
