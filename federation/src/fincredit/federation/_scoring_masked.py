"""Exact BFV slots with zero-sum masks: the transport of ``tree-masked`` and ``lr-masked``.

The bank sends fixed-point values ``round(v · 2^bits)``, one slot per (applicant, column),
applicant-major, N-1 per ciphertext plus a dummy slot. The platform returns, slot-wise,
``enc(multiplier · v + r)``: ``multiplier`` is its plaintext share of the computation (a 0/1 path
indicator for trees, a fixed-point weight for logistic regression, 0 for a refused row), ``r`` is
uniform mod t from the OS CSPRNG with ``Σ_columns r = offset (mod t)`` for each applicant, where
``offset`` is the platform's own additive term (0 for trees). The bank sums each applicant's slots
mod t: the masks cancel, leaving ``Σ_j multiplier_j · v_j + offset``. Any k-1 of an applicant's k slots
are uniformly random, so the bank learns that sum and nothing per column.

The dummy slot's multiplier is 1 so that no product is a transparent (all-zero) ciphertext, which
SEAL refuses to form and which would tell the bank that every multiplier of the payload was zero.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import tenseal as ts

__all__ = [
    "bank_masked_decode",
    "bank_masked_plaintexts",
    "masked_ciphertext_count",
    "platform_masked_evaluate",
    "quantise",
]


def masked_ciphertext_count(n_rows: int, n_columns: int, slots: int) -> int:
    """Ciphertexts for n x k values when each ciphertext keeps its last slot as a dummy."""
    return -(-(n_rows * n_columns) // (slots - 1)) if n_columns else 0


def quantise(values: np.ndarray, bits: int) -> np.ndarray:
    return np.rint(np.asarray(values, dtype=np.float64) * float(2**bits)).astype(np.int64)


def bank_masked_plaintexts(values: np.ndarray, bits: int, plain_modulus: int, slots: int) -> list[np.ndarray]:
    """Fixed-point values, applicant-major, cut into ciphertext payloads (+1 dummy slot each)."""
    q = quantise(values, bits)
    if q.size and int(np.abs(q).max()) >= plain_modulus // 2:
        raise ValueError(f"values too large for the BFV plaintext modulus at 2^-{bits} resolution")
    flat = q.ravel()
    step = slots - 1
    return [np.append(flat[lo : lo + step], 0) for lo in range(0, flat.size, step)]


def bank_masked_decode(
    decrypted: list[np.ndarray], n_rows: int, n_columns: int, plain_modulus: int, bits: int
) -> np.ndarray:
    """Sum each applicant's masked slots mod t and undo the fixed point."""
    if n_columns == 0:
        return np.zeros(n_rows)
    flat = np.concatenate([np.asarray(d, dtype=np.int64)[:-1] for d in decrypted])[: n_rows * n_columns]
    # |slot| < t/2 <= 2^49 and at most 20,000 columns, so int64 row sums cannot overflow.
    total = flat.reshape(n_rows, n_columns).sum(axis=1) % plain_modulus
    total = np.where(total > plain_modulus // 2, total - plain_modulus, total)
    return np.asarray(total.astype(np.float64) / float(2**bits))


def _uniform_mod(modulus: int, size: int) -> np.ndarray:
    """Uniform integers in [0, modulus) from the OS CSPRNG (rejection sampling, no modulo bias)."""
    limit = (2**64 // modulus) * modulus
    out = np.empty(0, dtype=np.uint64)
    while out.size < size:
        draw = np.frombuffer(os.urandom(8 * (size - out.size + 64)), dtype=np.uint64)
        out = np.concatenate([out, draw[draw < np.uint64(limit)]])
    return (out[:size] % np.uint64(modulus)).astype(np.int64)


def platform_masked_evaluate(
    load: Callable[[int, int], ts.BFVVector],
    multipliers: np.ndarray,
    offsets: np.ndarray | None,
    plain_modulus: int,
    slots: int,
) -> list[bytes]:
    """``enc(multiplier ⊙ v + r)`` per ciphertext; ``load(k, slots_used)`` parses the bank's k-th one.

    ``multipliers`` is n x k (integers, |m| < t/2), ``offsets`` n integers mod t (or None for 0).
    """
    n, k = multipliers.shape
    if k == 0:
        return []
    t = plain_modulus
    r = _uniform_mod(t, n * k).reshape(n, k)
    target = np.zeros(n, dtype=np.int64) if offsets is None else np.asarray(offsets, dtype=np.int64) % t
    # The last column's mask makes each applicant's masks sum to its offset; the int64 sums stay far
    # below 2^63 (k < 2^13 values below 2^50).
    r[:, -1] = (target - r[:, :-1].sum(axis=1) % t) % t
    flat_m, flat_r = (multipliers.astype(np.int64) % t).ravel(), r.ravel()
    step = slots - 1
    out: list[bytes] = []
    for index, lo in enumerate(range(0, n * k, step)):
        m = np.append(flat_m[lo : lo + step], 1)
        noise = np.append(flat_r[lo : lo + step], _uniform_mod(t, 1))
        ct = load(index, m.size)
        out.append((ct * m.tolist() + noise.tolist()).serialize())
    return out
