"""Curve25519 arithmetic for ECDH-PSI: hash identifiers to u-coordinates, blind them with X25519.

Why X25519 from ``cryptography`` (OpenSSL) and not ristretto255 from libsodium: measured on this
machine, one variable-base multiplication costs ~32 µs through ``cryptography`` and ~34 µs through
libsodium's ``crypto_scalarmult`` (PyNaCl 1.6, raw cffi call), and PyNaCl 1.6 does not expose the
ristretto255 functions at all, so the X25519 path is as fast, needs no extra dependency and uses an
audited, maintained primitive.

Hash to curve: ``u = SHA-512/256(domain || id)``. X25519 accepts any 32-byte string as a u-coordinate
(RFC 7748 masks bit 255), so every digest is a point on Curve25519 or on its quadratic twist. Both are
groups on which the Montgomery ladder computes scalar multiplication, so with clamped scalars
``X25519(a, X25519(b, u)) == X25519(b, X25519(a, u))`` (tested). Clamping makes every scalar a multiple
of 8, which kills the small-order component of any point (curve cofactor 8, twist cofactor 4), so a
crafted low-order input maps to the all-zero output, which OpenSSL refuses and we report as a
``PsiError``. Two ids collide only if their digests differ by a torsion point: probability ~2^-250.

Blinding a million points costs ~32 s of CPU, so batches run in a process pool (``spawn`` context, so it
is safe inside a threaded web server) with the batch passed as one concatenated blob and the per-point
loop kept to two C calls.
"""

from __future__ import annotations

import atexit
import hashlib
import multiprocessing
import os
import secrets
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from fincredit.federation.errors import PsiError

__all__ = [
    "POINT_BYTES",
    "blind_ids",
    "blind_points",
    "hash_ids",
    "new_secret",
    "split_points",
]

POINT_BYTES = 32
# Below this many points a batch runs inline: pool start-up and pickling would cost more than it saves.
_INLINE_BELOW = 4096
# Points per pool task: large enough that pickling is noise, small enough to balance two workers.
_TASK_POINTS = 12_500

# A spawned worker imports this module to run its tasks, and importing it would first run the package
# __init__, which pulls in the training and scoring stacks (sklearn, TenSEAL, pandas: seconds of CPU
# per worker). The workers need only this module, so they get a bare package object to import it from.
# The initializer must be picklable without importing our package, hence the built-in ``exec``. (When
# the program's main module itself imports the package, spawn re-imports it first and this is a no-op.)
_WORKER_BOOTSTRAP = """
import sys, types
package = types.ModuleType("fincredit.federation")
package.__path__ = [{path!r}]
sys.modules.setdefault("fincredit.federation", package)
"""

_pool_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_workers = 0


def new_secret() -> bytes:
    """A fresh 32-byte X25519 scalar (clamped by X25519 itself on every use)."""
    return secrets.token_bytes(32)


def _digest(domain: bytes, ids: Sequence[str]) -> Iterator[bytes]:
    base = hashlib.new("sha512_256", domain)
    for ident in ids:
        h = base.copy()
        h.update(ident.encode())
        yield h.digest()


def hash_ids(domain: bytes, ids: Sequence[str]) -> bytes:
    """The unblinded u-coordinates of ``ids``, concatenated (used by tests and leak checks only)."""
    return b"".join(_digest(domain, ids))


def split_points(blob: bytes) -> list[bytes]:
    if len(blob) % POINT_BYTES:
        raise PsiError(
            f"a point blob of {len(blob)} bytes is not a whole number of {POINT_BYTES}-byte points"
        )
    return [blob[i : i + POINT_BYTES] for i in range(0, len(blob), POINT_BYTES)]


def _mul_points(secret: bytes, blob: bytes) -> bytes:
    exchange = X25519PrivateKey.from_private_bytes(secret).exchange
    load = X25519PublicKey.from_public_bytes
    try:
        return b"".join(map(exchange, map(load, split_points(blob))))
    except ValueError:
        # OpenSSL refuses an all-zero result: the input was a low-order point, never a hashed id.
        raise PsiError("a point in the batch has low order; refusing to blind it") from None


def _mul_ids(secret: bytes, domain: bytes, ids: Sequence[str]) -> bytes:
    exchange = X25519PrivateKey.from_private_bytes(secret).exchange
    load = X25519PublicKey.from_public_bytes
    try:
        return b"".join(map(exchange, map(load, _digest(domain, ids))))
    except ValueError:
        raise PsiError("an identifier hashed to a low-order point (probability ~2^-250)") from None


def _shutdown_pool() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
            _pool = None


def _get_pool(workers: int) -> ProcessPoolExecutor:
    global _pool, _pool_workers
    with _pool_lock:
        # One pool per process, grown when a caller wants more workers (never shrunk: two parties in
        # one process, as in tests and the benchmark, would otherwise keep restarting it).
        if _pool is None or _pool_workers < workers:
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=True)
            _pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=exec,
                initargs=(_WORKER_BOOTSTRAP.format(path=str(Path(__file__).parent)),),
            )
            _pool_workers = workers
        return _pool


atexit.register(_shutdown_pool)


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _resolve(workers: int | None) -> int:
    return default_workers() if workers is None else max(1, workers)


def blind_points(secret: bytes, blob: bytes, *, workers: int | None = None) -> bytes:
    """``X25519(secret, u)`` for every 32-byte u in ``blob``, concatenated in the same order."""
    n = len(blob) // POINT_BYTES
    w = _resolve(workers)
    if w == 1 or n < _INLINE_BELOW:
        return _mul_points(secret, blob)
    step = max(_INLINE_BELOW, min(_TASK_POINTS, -(-n // w))) * POINT_BYTES
    parts = [blob[i : i + step] for i in range(0, len(blob), step)]
    pool = _get_pool(w)
    return b"".join(pool.map(_mul_points, [secret] * len(parts), parts))


def blind_ids(secret: bytes, domain: bytes, ids: Sequence[str], *, workers: int | None = None) -> bytes:
    """Hash each id to a u-coordinate and blind it: ``X25519(secret, H(domain || id))``, concatenated."""
    n = len(ids)
    w = _resolve(workers)
    if w == 1 or n < _INLINE_BELOW:
        return _mul_ids(secret, domain, ids)
    step = max(_INLINE_BELOW, min(_TASK_POINTS, -(-n // w)))
    parts = [list(ids[i : i + step]) for i in range(0, n, step)]
    pool = _get_pool(w)
    return b"".join(pool.map(_mul_ids, [secret] * len(parts), [domain] * len(parts), parts))
