"""Group commit: many callers' small writes share one transaction, each caller still waits for its own.

A write that must be durable before its caller proceeds (an audit row before the response, a ledger
entry before the disclosure) costs one commit, and under concurrent load the commits dominate. Here
callers ``submit`` an item and get a ``concurrent.futures.Future``; one dedicated thread takes
*whatever is queued* (no linger: a lone request is written at once as a batch of one, a burst becomes
one batch), runs the batch function once for the whole batch (one transaction, one commit), then
resolves every item's future. This amortises the commit; it does not weaken durability: a future is
resolved only after the batch function returned, i.e. after the commit.

If the batch function raises, the items are retried one by one (``retry_singly``), so one bad item
fails alone instead of taking the others' writes with it.

From asyncio: ``await asyncio.wrap_future(gc.submit(item))`` (shield it if the write must complete
even when the awaiting task is cancelled; the write itself always happens once submitted).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("fincredit.group_commit")


class GroupCommitStopped(RuntimeError):
    """``submit`` was called while the writer is not running (before ``start`` or after ``stop``)."""


@dataclass(slots=True)
class _Pending(Generic[T, R]):
    item: T
    future: Future[R]


_STOP = object()  # queued by ``stop``: everything queued before it is written, then the thread exits


class GroupCommit(Generic[T, R]):
    """One writer thread running ``write_batch`` over batches of submitted items.

    ``write_batch(items)`` must write all items atomically (one transaction) and return one result per
    item, in order. It runs only in the writer thread, one batch at a time, so it may keep per-thread
    state (a held connection).
    ``start``/``stop`` may be repeated (an app's lifespan can run many times, as in tests); ``stop``
    writes what is already queued, then joins the thread; submits after ``stop`` raise.
    """

    def __init__(
        self,
        write_batch: Callable[[list[T]], Sequence[R]],
        *,
        name: str = "group-commit",
        max_batch: int = 500,
        retry_singly: bool = True,
    ) -> None:
        self._write_batch = write_batch
        self._name = name
        self._max_batch = max_batch
        self._retry_singly = retry_singly
        self._queue: queue.SimpleQueue[_Pending[T, R] | object] = queue.SimpleQueue()
        # Guards accepting/the thread handle: no item can be queued behind the stop marker.
        self._lock = threading.Lock()
        self._accepting = False
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._accepting

    def start(self) -> None:
        with self._lock:
            if self._accepting:
                return
            # Daemon so that a forgotten ``stop`` never hangs interpreter exit; ``stop`` is the real end.
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
            self._accepting = True

    def stop(self, timeout: float | None = None) -> None:
        """Stop accepting, write everything already queued, join the thread."""
        with self._lock:
            if not self._accepting:
                return
            self._accepting = False
            self._queue.put(_STOP)
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def submit(self, item: T) -> Future[R]:
        """Queue ``item``; its future resolves once its batch committed (or fails with the error)."""
        future: Future[R] = Future()
        with self._lock:
            if not self._accepting:
                raise GroupCommitStopped(f"{self._name} is not running")
            self._queue.put(_Pending(item, future))
        return future

    def _run(self) -> None:
        while True:
            first = self._queue.get()  # blocks until there is work: no polling, no linger
            batch: list[_Pending[T, R]] = []
            stopping = first is _STOP
            if not stopping:
                batch.append(first)  # type: ignore[arg-type]
                # Take what else is already queued: requests that arrived while the last batch committed.
                while len(batch) < self._max_batch:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stopping = True
                        break
                    batch.append(nxt)  # type: ignore[arg-type]
            if stopping:
                # Drain the rest (``stop`` put the marker last, under the lock, so nothing follows it).
                while True:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is not _STOP:
                        batch.append(nxt)  # type: ignore[arg-type]
            for start in range(0, len(batch), self._max_batch):
                self._commit(batch[start : start + self._max_batch])
            if stopping:
                return

    def _commit(self, batch: list[_Pending[T, R]]) -> None:
        if not batch:
            return
        try:
            results = self._write_batch([p.item for p in batch])
            if len(results) != len(batch):
                raise RuntimeError(
                    f"{self._name}: write_batch returned {len(results)} results for {len(batch)}"
                )
        except Exception as exc:  # any failure is handed to the callers' futures
            if not self._retry_singly or len(batch) == 1:
                for p in batch:
                    _resolve(p.future, exception=exc)
                return
            log.warning("%s: a batch of %d failed (%s); retrying one by one", self._name, len(batch), exc)
            for p in batch:
                try:
                    result = self._write_batch([p.item])[0]
                except Exception as one_exc:
                    _resolve(p.future, exception=one_exc)
                else:
                    _resolve(p.future, result=result)
            return
        for p, result in zip(batch, results, strict=True):
            _resolve(p.future, result=result)


def _resolve(future: Future[R], *, result: R | None = None, exception: BaseException | None = None) -> None:
    # The waiter may have cancelled its future (its task was cancelled); the write still happened.
    try:
        if exception is not None:
            future.set_exception(exception)
        else:
            future.set_result(result)  # type: ignore[arg-type]
    except InvalidStateError:
        pass
