"""Group commit: many small writes from concurrent requests go to the database as one transaction.

A request that only needs to insert a few rows spends most of its database time on the transaction around
them: the round trips to begin and commit, the audit chain's append lock, the commit's flush to disk. Under
load, ``GroupCommit`` lets one writer thread take every submission that is waiting, write them together and
commit once; each caller waits on its own future, which is answered only after that commit (or with its own
error). Nothing waits on a timer: a batch is whatever queued up while the previous one was being written, so
a lone request is written at once and a busy minute is written in fewer, larger transactions.

When writing a batch fails as a whole (a lost connection, a deadlock), each of its items is written again on
its own, so one bad submission cannot fail the others and every caller gets the answer that is its own.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")

#: ``write(items)`` → one outcome per item, in order: a value, or the exception that item is answered with.
Writer = Callable[[Sequence[Item]], Sequence[Outcome | Exception]]


class GroupCommit(Generic[Item, Outcome]):
    """One writer thread that writes queued items in batches of at most ``max_batch``."""

    def __init__(self, write: Writer[Item, Outcome], *, name: str, max_batch: int = 64) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._write = write
        self._name = name
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[Item, Future[Outcome]] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.batches = 0  # how many transactions were written (for the benchmark and the tests)
        self.items = 0

    def submit(self, item: Item) -> Future[Outcome]:
        """Queue ``item``; the future is answered after the transaction holding it has committed."""
        future: Future[Outcome] = Future()
        with self._lock:
            if self._thread is None:
                self._queue = queue.SimpleQueue()  # each writer thread drains its own queue
                self._thread = threading.Thread(
                    target=self._run, args=(self._queue,), name=self._name, daemon=True
                )
                self._thread.start()
            self._queue.put((item, future))
        return future

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the writer thread (a later ``submit`` starts a new one: an app
        whose lifespan ends and starts again, as in tests, keeps working)."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join(timeout)

    def _run(self, waiting: queue.SimpleQueue[tuple[Item, Future[Outcome]] | None]) -> None:
        while True:
            first = waiting.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    more = waiting.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._write_batch(batch)
            if stop:
                return

    def _write_batch(self, batch: list[tuple[Item, Future[Outcome]]]) -> None:
        items = [item for item, _future in batch]
        try:
            outcomes = list(self._write(items))
            if len(outcomes) != len(items):
                raise RuntimeError(f"{self._name}: {len(outcomes)} outcomes for {len(items)} items")
        except Exception as exc:
            if len(batch) == 1:
                outcomes = [exc]
            else:
                log.warning(
                    "%s: a batch of %d failed (%s); writing each on its own", self._name, len(batch), exc
                )
                outcomes = [self._write_alone(item) for item in items]
        self.batches += 1
        self.items += len(items)
        for (_item, future), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    def _write_alone(self, item: Item) -> Outcome | Exception:
        try:
            [outcome] = self._write([item])
        except Exception as exc:
            return exc
        return outcome
