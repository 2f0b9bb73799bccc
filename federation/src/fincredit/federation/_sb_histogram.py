"""Encrypted per-bin sums of ``g`` and ``h`` for SecureBoost, on SEAL directly (TenSEAL's ``sealapi``).

A CKKS slot is a complex number: the bank packs each row as ``g + i·h``, so one ciphertext carries 4096
rows (twice TenSEAL's real-valued layout) and one 0/1 bin mask, a real plaintext, selects both sums at
once: ``Σ_c Enc(g + i·h)_c · mask_c`` has ``Σg`` in the real parts and ``Σh`` in the imaginary parts
of the selected slots. A leaf of at most 2048 rows is replicated across the slots, so one returned
ciphertext carries the sums of ``4096 // rows`` bins in disjoint segments. The bank encrypts with its
secret key (half the time of a public-key encryption, and SEAL sends half of each ciphertext as a seed).

Before a sum leaves the platform it is blinded by a complex mask whose real and imaginary parts each sum
to zero within every segment, added as ``Enc(e) · (v/e)`` for one public-key encryption of a random
``e`` per request (a ct x plain product costs a fraction of an encryption). The bank decrypts and sums
each segment: it learns the per-bin totals and nothing about how they split across slots.

The functions here take and return bytes and arrays only, so the platform can run them in other
processes (Ray tasks): SEAL holds the GIL, so threads would not help.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import tenseal as ts

from fincredit.federation._ckks import SECUREBOOST_SCALE_BITS, load_public_context
from fincredit.federation._ckks_seal import SealKit
from fincredit.federation.errors import FederationError

__all__ = [
    "SLOTS",
    "bin_groups",
    "chunk_count",
    "decrypt_sums",
    "encrypt_gh",
    "histogram_blobs",
    "histogram_task",
    "layout",
]

SLOTS = 4096
_SCALE = 2.0**SECUREBOOST_SCALE_BITS


def layout(n_rows: int) -> tuple[int, int]:
    """(segment length, replicas): a leaf that fits in half a ciphertext is replicated."""
    if n_rows <= SLOTS // 2:
        seg = max(1, n_rows)
        return seg, SLOTS // seg
    return SLOTS, 1


def chunk_count(n_rows: int) -> int:
    return 1 if layout(n_rows)[1] > 1 else max(1, -(-n_rows // SLOTS))


def pack_gh(g: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Rows to complex slots ``g + i·h``, (chunks, SLOTS); a small leaf is replicated."""
    seg, replicas = layout(g.size)
    values = g + 1j * h
    if replicas > 1:
        out = np.zeros((1, SLOTS), dtype=np.complex128)
        for r in range(replicas):
            out[0, r * seg : r * seg + g.size] = values
        return out
    padded = np.zeros(chunk_count(g.size) * SLOTS, dtype=np.complex128)
    padded[: g.size] = values
    return padded.reshape(-1, SLOTS)


def encrypt_gh(kit: SealKit, g: np.ndarray, h: np.ndarray) -> list[bytes]:
    return [kit.encrypt_seeded(chunk, 0) for chunk in pack_gh(g, h)]


def bin_groups(bins: np.ndarray, n_bins: int) -> list[list[int]]:
    """Bins holding rows of the leaf, grouped by returned ciphertext (one bin per replica)."""
    _, replicas = layout(bins.size)
    present = [int(b) for b in np.unique(bins) if 0 <= b < n_bins]
    return [present[i : i + replicas] for i in range(0, len(present), replicas)]


def _group_mask(bins: np.ndarray, group: list[int]) -> np.ndarray:
    seg, replicas = layout(bins.size)
    if replicas > 1:
        out = np.zeros((1, SLOTS))
        for r, b in enumerate(group):
            out[0, r * seg : r * seg + bins.size] = bins == b
        return out
    padded = np.full(chunk_count(bins.size) * SLOTS, -1, dtype=np.int64)
    padded[: bins.size] = bins
    selected: np.ndarray = (padded.reshape(-1, SLOTS) == group[0]).astype(np.float64)
    return selected


def _zero_sum_mask(rng: np.random.Generator, n_rows: int, amplitude: float) -> np.ndarray:
    seg, replicas = layout(n_rows)
    mask = rng.uniform(-amplitude, amplitude, SLOTS) + 1j * rng.uniform(-amplitude, amplitude, SLOTS)
    for r in range(replicas):
        part = slice(r * seg, (r + 1) * seg)
        mask[part] -= mask[part].mean()
    return mask


def histogram_blobs(
    kit: SealKit,
    cts: Sequence[Any],
    bins: np.ndarray,
    n_bins: int,
    rng: np.random.Generator,
    amplitude: float,
    blinding: tuple[Any, np.ndarray],
) -> tuple[list[list[int]], list[bytes]]:
    """Blinded per-bin accumulators of one feature over a leaf's rows (``bins`` in the leaf's order)."""
    enc_e, e = blinding
    groups = bin_groups(bins, n_bins)
    blobs: list[bytes] = []
    for group in groups:
        mask = _group_mask(bins, group)
        acc = None
        for ct, row in zip(cts, mask, strict=True):
            if row.any():
                acc = kit.add_product(acc, ct, kit.encode(row, 0))
        acc = kit.add_product(acc, enc_e, kit.encode(_zero_sum_mask(rng, bins.size, amplitude) / e, 0))
        blobs.append(kit.save(acc))
    return groups, blobs


def decrypt_sums(kit: SealKit, blob: bytes, n_rows: int, used: int) -> list[tuple[float, float]]:
    """(G, H) per replica segment of a returned histogram ciphertext."""
    values = kit.decrypt(blob, 0)
    seg, _ = layout(n_rows)
    return [
        (float(values[r * seg : (r + 1) * seg].real.sum()), float(values[r * seg : (r + 1) * seg].imag.sum()))
        for r in range(used)
    ]


_kits: dict[bytes, SealKit] = {}


def platform_kit(public_context: bytes) -> SealKit:
    """The platform's SEAL objects for a bank's public context, built once per process."""
    key = hashlib.sha256(public_context).digest()
    kit = _kits.get(key)
    if kit is None:
        ctx: ts.Context = load_public_context(public_context, SECUREBOOST_SCALE_BITS)
        kit = SealKit(ctx)
        if kit.holds_secret_key:
            raise FederationError("the platform must not hold the bank's secret key")
        _kits.clear()  # one job's context at a time per process
        _kits[key] = kit
    return kit


def histogram_task(
    public_context: bytes,
    gh_blobs: Sequence[bytes],
    bins: np.ndarray,
    n_bins: Sequence[int],
    amplitude: float,
    seed: int,
) -> tuple[list[list[list[int]]], list[bytes]]:
    """Every feature of ``bins`` (rows x features) for one leaf: (bin groups per feature, blobs).
    Self-contained (bytes and arrays in and out) so that it can run as a Ray task."""
    kit = platform_kit(public_context)
    rng = np.random.default_rng(seed)
    cts = [kit.load(b, 0, _SCALE) for b in gh_blobs]
    if len(cts) != chunk_count(bins.shape[0]):
        raise FederationError("sb.hist carries the wrong number of ciphertexts for its rows")
    # |e| near sqrt(amplitude x Enc(e)'s noise / encoding error) balances the two errors the blinding
    # adds: Enc(e)'s noise times |v/e|, and the rounding of v/e times |e| (about 3e-6 per slot each).
    e = rng.uniform(32.0, 64.0, SLOTS) * rng.choice([-1.0, 1.0], SLOTS)
    blinding = (kit.encrypt_public(e, 0), e)
    index: list[list[list[int]]] = []
    blobs: list[bytes] = []
    for j, nb in enumerate(n_bins):
        groups, feature_blobs = histogram_blobs(kit, cts, bins[:, j], nb, rng, amplitude, blinding)
        index.append(groups)
        blobs.extend(feature_blobs)
    return index, blobs
