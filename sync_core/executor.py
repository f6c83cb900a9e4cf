"""The executor: planned rows -> destination requests, with bounded concurrency (the destination's client
waits for its shared rate limits before each request).

Transient failures are retried with exponential backoff and jitter (a `Retry-After` is honoured); once the
attempts are spent the rows are left `failed` for the next run. A batch refused as a whole is split in
halves until the bad row stands alone. A fatal error (bad credentials) stops new requests at once.
Results come back to the caller's thread, one per request, so the caller commits them in order of arrival.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Callable, Iterable, Iterator, TypeVar

from .destinations.base import Batch, BatchRejected, DestinationObject, Rejection, SendResult, TransientError
from .errors import DestinationError

T = TypeVar("T")
_DONE = object()


class Executor:
    def __init__(self, destination: DestinationObject, *, max_attempts: int = 5, concurrency: int = 2,
                 base_delay: float = 0.5, max_delay: float = 60.0,
                 sleep: Callable[[float], None] = time.sleep, seed: int | None = None,
                 on_retry: Callable[[str], None] = lambda message: None, cancel: threading.Event | None = None,
                 max_retry_after: float = 300.0):
        self.destination = destination
        self.max_attempts = max(1, max_attempts)
        self.concurrency = max(1, concurrency)
        self.base_delay, self.max_delay = base_delay, max_delay
        self.max_retry_after = max_retry_after  # a vendor asking to wait longer is not waited for within a run
        self._sleep = sleep
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._on_retry = on_retry
        self._stop = threading.Event()  # set by a fatal error or Ctrl-C inside deliver()
        self._cancel = cancel or threading.Event()  # set by the caller: send nothing more (run_context.CancelToken)
        self._fatal: DestinationError | None = None  # the first fatal error of a deliver()
        self.requests_sent = 0

    def call(self, request: Callable[[], T], what: str) -> T:
        """Run one request with retries on transient errors; the last TransientError escapes, with its
        `attempts`. A stop before the first attempt raises `Stopped` (nothing went out); a stop before a retry
        raises the last error, as the request may have been stored."""
        last: TransientError | None = None
        for attempt in range(1, self.max_attempts + 1):
            if self._stopping():
                if last is None:
                    raise TransientError("Stopped", "the run was stopped before this request was sent")
                raise last
            with self._lock:
                self.requests_sent += 1
            try:
                return request()
            except TransientError as exc:
                exc.attempts, last = attempt, exc
                if attempt == self.max_attempts:
                    exc.gave_up = True
                    raise
                if exc.retry_after is not None and exc.retry_after > self.max_retry_after:
                    # An hour's Retry-After would hold the run (and its sync) for an hour: leave the rows failed
                    # for the next run, and say why.
                    exc.message += (f"; it asked to wait {exc.retry_after:g} s, longer than a run waits "
                                    f"(max_retry_after_seconds = {self.max_retry_after:g})")
                    exc.gave_up = True
                    raise
                delay = self._backoff(attempt, exc.retry_after)
                self._on_retry(f"{what}: {exc.code} ({exc.message}); attempt {attempt + 1} of "
                               f"{self.max_attempts} in {delay:.1f} s")
                self._sleep(delay)
        raise AssertionError("unreachable")

    def _stopping(self) -> bool:
        return self._stop.is_set() or self._cancel.is_set()

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        with self._lock:
            jitter = self._random.random()
        if retry_after is not None:
            return retry_after + jitter * 0.25  # spread retries a little so they do not arrive together
        return min(self.max_delay, self.base_delay * 2 ** (attempt - 1)) * (0.5 + jitter / 2)

    def deliver(self, batches: Iterable[Batch], on_result: Callable[[SendResult], None], *,
                meanwhile: Iterator[object] | None = None) -> None:
        """Send every batch, calling on_result in this thread for each one's outcome.

        At most `concurrency` requests are ever sent and not yet passed to on_result: a batch is handed to a
        sender only once the result of an earlier one is committed. So a kill loses the outcomes of at most
        `concurrency` requests (the duplicate window), however long a commit takes.

        While the requests are in flight and no result is waiting, this thread makes the next batch (so it is sent
        as soon as a result is recorded), then runs `meanwhile`, the caller's own work, a step per next()
        (recording refused rows), so that work overlaps the requests in flight instead of preceding them; the
        steps left when the last result is in run then, even after a fatal error. A batch made ahead and not
        sent (a stop) is not attempted.

        Raises the first fatal DestinationError after in-flight requests have settled; batches not sent by
        then are simply not attempted (the caller knows which rows it got results for). Whatever else stops
        it (Ctrl-C, an error in on_result, in `meanwhile` or in the batches) nothing more is sent, and the
        requests already sending are waited for and their results passed on before it is raised again: a
        stored write is never left without a trace."""
        self._fatal = None
        source = iter(batches)
        unsettled: set = set()  # requests submitted whose result on_result has not had yet
        meanwhile = meanwhile if meanwhile is not None else iter(())
        working = True  # steps of `meanwhile` may remain
        ahead, exhausted = None, False  # the next batch, made while the requests before it are in flight
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="sync-send") as pool:
            try:
                while True:
                    while not self._stopping() and len(unsettled) < self.concurrency:
                        batch, ahead = (ahead, None) if ahead is not None else (next(source, None), None)
                        if batch is None:
                            exhausted = True
                            break
                        unsettled.add(pool.submit(self._deliver, batch))
                    if not unsettled:
                        break
                    make_ahead = ahead is None and not exhausted and not self._stopping()
                    done, _ = wait(unsettled, timeout=0 if working or make_ahead else None,
                                   return_when=FIRST_COMPLETED)
                    if not done and make_ahead:  # it leaves as soon as a result is recorded, not after its making
                        ahead = next(source, None)
                        exhausted = ahead is None
                    elif not done:
                        working = next(meanwhile, _DONE) is not _DONE
                    for future in done:
                        result = future.result()
                        unsettled.discard(future)
                        on_result(result)
            except BaseException:
                self._stop.set()
                self._settle(unsettled, on_result)
                raise
        for _ in meanwhile:
            pass
        if self._fatal is not None:
            raise self._fatal

    @staticmethod
    def _settle(unsettled: set, on_result: Callable[[SendResult], None]) -> None:
        """After a stop: cancel what has not started, wait for what is sending, and pass each result on.
        An error passing one on does not keep the others from being passed (the first stop is what is raised)."""
        for future in unsettled:
            if future.cancel():
                continue
            try:
                on_result(future.result())
            except Exception:  # noqa: BLE001 - the error that stopped the run is the one raised
                continue

    def _deliver(self, batch: Batch) -> SendResult:
        rows = batch.rows
        try:
            return self.call(lambda: self.destination.send(batch), f"{self.destination.name}: {len(rows)} rows")
        except DestinationError as exc:  # fatal: no request is sent from now on; this one was refused whole
            with self._lock:
                self._fatal = self._fatal or exc
            self._stop.set()
            return SendResult()
        except TransientError as exc:
            if exc.code == "Stopped":
                return SendResult()  # never sent: the caller counts these rows as not attempted
            tries = f"{exc.attempts} attempt{'s' if exc.attempts > 1 else ''}"
            why = f"gave up after {tries}" if exc.gave_up else f"the run stopped after {tries}"
            message = f"{exc.message} ({why}; the next run sends it again)"
            return SendResult(rejected=[Rejection(r, exc.code, message, "transient") for r in rows])
        except BatchRejected as exc:
            if len(rows) == 1:
                return SendResult(rejected=[Rejection(rows[0], exc.code, exc.message, "data")])
            first, second = (self._deliver(half) for half in batch.halves())
            return first + second
