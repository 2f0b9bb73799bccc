"""The bank's half of a SecureBoost histogram request, encrypting ``g``, ``h`` and decrypting the
returned sums, spread over the bank's own processes.

A request is sequential across the parties: the bank encrypts, the platform computes, the bank
decrypts; while one party works the other waits. The platform's half already runs on every core it
is given (``HistogramWorker`` actors); without this pool the bank's half ran on one, and on a machine
both parties share (the benchmark's) that left one of two cores idle for about a third of the job.
SEAL holds the GIL, so threads would not help: these are processes.

The processes are the bank's: the secret key reaches them through the pipe ``multiprocessing`` opens
to a process it spawns, and never leaves the bank's machine. Small requests stay in the calling
process (shipping a few ciphertexts to another process costs more than encrypting them); the pool
starts at the first request large enough and ends with the job. The processes are spawned, so a
script that trains must guard its entry point (``if __name__ == "__main__":``), as with any use of
``multiprocessing``; if the pool cannot start or breaks, the bank logs it and goes on in its own
process.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

import numpy as np
import tenseal as ts

from fincredit.federation._ckks import SECUREBOOST_SCALE_BITS
from fincredit.federation._ckks_seal import SealKit
from fincredit.federation._sb_histogram import FLOAT, SLOTS, Group, Packing, decrypt_sums, pack_rows

__all__ = ["BankCrypto", "default_processes"]

# Below this many ciphertexts per process a request is done in the calling process.
MIN_PER_PROCESS = 8
_MAX_DEFAULT_PROCESSES = 4

_worker_kit: SealKit | None = None
_worker_key = b""
_cpu_reported = 0.0
_log = logging.getLogger(__name__)
_T = TypeVar("_T")


def default_processes() -> int:
    """This machine's cores, at most four (beyond that the bank's half is no longer what waits)."""
    return max(1, min(_MAX_DEFAULT_PROCESSES, os.cpu_count() or 1))


def _kit_for(secret_context: bytes) -> SealKit:
    """This process's SEAL objects for the job's context (each task carries it: 200 kB, against the
    seconds a process's start would block on it as an initializer argument)."""
    global _worker_kit, _worker_key
    key = hashlib.sha256(secret_context).digest()
    if _worker_kit is None or key != _worker_key:
        ctx = ts.context_from(secret_context)
        ctx.global_scale = 2.0**SECUREBOOST_SCALE_BITS
        _worker_kit, _worker_key = SealKit(ctx), key
    return _worker_kit


def _cpu_since_last_task() -> float:
    """This process's CPU seconds since its previous task ended (since it started, for its first):
    summed over the tasks, every CPU second the process spends, its imports included."""
    global _cpu_reported
    now = time.process_time()
    spent, _cpu_reported = now - _cpu_reported, now
    return spent


def _warm(secret_context: bytes) -> tuple[None, float]:
    _kit_for(secret_context)
    return None, _cpu_since_last_task()


def _encrypt(kit: SealKit, rows: np.ndarray, scale: float) -> list[bytes]:
    return [kit.encrypt_seeded(row, 0, scale) for row in rows]


def _encrypt_task(secret_context: bytes, rows: np.ndarray, scale: float) -> tuple[list[bytes], float]:
    return _encrypt(_kit_for(secret_context), rows, scale), _cpu_since_last_task()


Sums = list[tuple[int, float, float]]


def _decrypt(
    kit: SealKit, pairs: Sequence[tuple[bytes, bytes, Group]], seg: int, packing: Packing
) -> list[Sums]:
    return [decrypt_sums(kit, g, h, seg, group, packing) for g, h, group in pairs]


def _decrypt_task(
    secret_context: bytes, pairs: Sequence[tuple[bytes, bytes, Group]], seg: int, packing: Packing
) -> tuple[list[Sums], float]:
    return _decrypt(_kit_for(secret_context), pairs, seg, packing), _cpu_since_last_task()


def _split(n: int, parts: int) -> list[slice]:
    bounds = np.linspace(0, n, parts + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]


class BankCrypto:
    """Encrypts a request's rows and decrypts its returned sums with ``kit`` (the bank's keys), in
    ``processes`` processes when the request is large enough."""

    def __init__(self, kit: SealKit, secret_context: bytes, processes: int | None = None) -> None:
        self.kit = kit
        self.processes = default_processes() if processes is None else max(1, int(processes))
        self.min_per_process = MIN_PER_PROCESS
        self._secret_context = secret_context
        self._pool: ProcessPoolExecutor | None = None
        self._broken = False
        self._warming: list[Future[tuple[None, float]]] = []
        self.process_cpu_seconds = 0.0  # spent in the pool's processes (not in this one's process_time)

    def _parts(self, n: int) -> int:
        """How many processes a batch of ``n`` ciphertexts is worth (1: this process)."""
        return max(1, min(self.processes, n // max(1, self.min_per_process)))

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: the bank's process may run threads (a Ray driver, an HTTP client).
            self._pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    def start_for(self, train_rows: int) -> None:
        """Start the processes now, in the background, if requests over ``train_rows`` rows will use
        them (the root's alone is at least ``2·rows/4096`` ciphertexts): a process takes seconds to
        import what it needs, which then overlaps the job's opening instead of its first request."""
        if self.processes > 1 and self._parts(2 * -(-train_rows // SLOTS)) > 1:
            # A process takes seconds to import what it needs: they start now, while the job opens.
            pool = self._executor()
            self._warming = [pool.submit(_warm, self._secret_context) for _ in range(self.processes)]

    def encrypt_gh(
        self, g: np.ndarray, h: np.ndarray, replicas: int = 1, packing: Packing = FLOAT
    ) -> list[bytes]:
        """``Enc(g)`` chunks then ``Enc(h)`` chunks, as :func:`~._sb_histogram.encrypt_gh`."""
        rows = np.concatenate([pack_rows(g, replicas), pack_rows(h, replicas)])
        scale = packing.ct_scale
        return self._map(
            len(rows),
            lambda part: _encrypt(self.kit, rows[part], scale),
            lambda pool, part: pool.submit(_encrypt_task, self._secret_context, rows[part], scale),
        )

    def decrypt_sums(
        self, pairs: Sequence[tuple[bytes, bytes, Group]], seg: int, packing: Packing = FLOAT
    ) -> list[Sums]:
        """(bin, G, H) of every group, from its pair of returned ciphertexts, as :func:`decrypt_sums`."""
        return self._map(
            len(pairs),
            lambda part: _decrypt(self.kit, pairs[part], seg, packing),
            lambda pool, part: pool.submit(_decrypt_task, self._secret_context, pairs[part], seg, packing),
            weight=2,
        )

    def _map(
        self,
        n: int,
        here: Callable[[slice], list[_T]],
        there: Callable[[ProcessPoolExecutor, slice], Future[tuple[list[_T], float]]],
        weight: int = 1,
    ) -> list[_T]:
        """``here(slice(0, n))``, or the same cut into parts done by the pool's processes."""
        parts = self._parts(weight * n)
        if parts > 1 and not self._broken:
            try:
                pool = self._executor()
                futures = [there(pool, part) for part in _split(n, parts)]
                done = [future.result() for future in futures]
                self.process_cpu_seconds += sum(cpu for _, cpu in done)
                return [item for items, _ in done for item in items]
            except BrokenProcessPool as exc:
                _log.warning("the bank's encryption processes stopped (%s); going on in this process", exc)
                self._broken = True
                self.close()
        return here(slice(0, n))

    def close(self) -> None:
        """End the processes (their CPU seconds, imports included, are then in ``process_cpu_seconds``)."""
        for future in self._warming:
            if future.done() and future.exception() is None:
                self.process_cpu_seconds += future.result()[1]
        self._warming = []
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
