"""CKKS plumbing shared by the HE training protocols (vertical LR, SecureBoost).

The bank (label holder) owns the only secret key. The platform receives a *public* context
(no secret, relinearisation or Galois keys: the training protocols need neither ciphertext
products nor rotations) and refuses any context that could decrypt.

Vectors longer than one ciphertext are cut into row chunks of ``slots`` values. Encrypted
column sums avoid rotations altogether: the platform multiplies each chunk by a plaintext column,
adds across chunks, then adds a random mask whose slots sum to zero (or to a value only it knows);
the bank decrypts and sums the slots itself. The bank thus learns the total and nothing about
the per-slot partial sums.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import numpy as np
import tenseal as ts

from fincredit.federation.errors import FederationError

__all__ = [
    "CKKS_COEFF_MOD_BITS",
    "CKKS_POLY_DEGREE",
    "CKKS_SCALE_BITS",
    "LOGISTIC_COEFF_MOD_BITS",
    "SECUREBOOST_COEFF_MOD_BITS",
    "SECUREBOOST_SCALE_BITS",
    "SLOTS",
    "add_plain",
    "column_sums",
    "decrypt_chunks",
    "decrypt_sum",
    "encrypt_chunks",
    "load_ciphertexts",
    "load_public_context",
    "new_secret_context",
    "private_rng",
    "public_context_bytes",
    "secret_context_bytes",
    "to_chunks",
    "zero_sum_mask",
]

CKKS_POLY_DEGREE = 8192
# Two rescale levels (ct x plain, then ct x plain again) with a 2^40 scale; 200 bits keeps
# 128-bit security at N = 8192 (the HE standard bound is 218 bits).
CKKS_COEFF_MOD_BITS = (60, 40, 40, 60)
CKKS_SCALE_BITS = 40
SLOTS = CKKS_POLY_DEGREE // 2
# SecureBoost needs a single ct x plain product and never rescales: two data primes (ciphertexts a
# third smaller and faster than the default's three). Float gradients use a 2^30 scale, so the 2^60
# product of a per-bin sum of up to millions of gradients stays far inside the 120-bit modulus
# (precision near 1e-6 per slot); quantized gradients use the room for two integer sums per real
# part (``_sb_histogram.Packing``). 180 bits in all keeps 128-bit security at N = 8192.
SECUREBOOST_COEFF_MOD_BITS = (60, 60, 60)
SECUREBOOST_SCALE_BITS = 30
# Vertical LR: each ciphertext meets a single plaintext product (see _vertical_lr), so it too needs one
# data prime fewer than the default.
LOGISTIC_COEFF_MOD_BITS = (60, 40, 60)


def new_secret_context(
    coeff_mod_bits: Sequence[int] = CKKS_COEFF_MOD_BITS, scale_bits: int = CKKS_SCALE_BITS
) -> ts.Context:
    ctx = ts.context(ts.SCHEME_TYPE.CKKS, CKKS_POLY_DEGREE, coeff_mod_bit_sizes=list(coeff_mod_bits))
    ctx.global_scale = 2.0**scale_bits
    return ctx


def public_context_bytes(ctx: ts.Context) -> bytes:
    return bytes(
        ctx.serialize(
            save_public_key=True, save_secret_key=False, save_galois_keys=False, save_relin_keys=False
        )
    )


def secret_context_bytes(ctx: ts.Context) -> bytes:
    """The bank's context with its secret key, for the bank's own processes only (never a frame)."""
    return bytes(
        ctx.serialize(
            save_public_key=False, save_secret_key=True, save_galois_keys=False, save_relin_keys=False
        )
    )


def load_public_context(data: bytes, scale_bits: int = CKKS_SCALE_BITS) -> ts.Context:
    """The platform's view of the bank's context; refuses one that carries a secret key."""
    try:
        ctx = ts.context_from(data)
    except Exception as exc:  # TenSEAL raises bare ValueError/RuntimeError on garbage
        raise FederationError(f"the CKKS context sent by the bank is not valid: {exc}") from None
    if ctx.is_private() or ctx.has_secret_key():
        raise FederationError("the bank sent a CKKS context holding its secret key; refusing it")
    ctx.global_scale = 2.0**scale_bits
    return ctx


def private_rng() -> np.random.Generator:
    """Masks must be unpredictable to the other party, so never a fixed seed."""
    return np.random.default_rng(secrets.randbits(128))


def to_chunks(values: np.ndarray, slots: int = SLOTS) -> list[np.ndarray]:
    """Cut along axis 0 into chunks of ``slots`` rows, zero-padding the last one."""
    n = values.shape[0]
    out = []
    for start in range(0, max(n, 1), slots):
        part = values[start : start + slots]
        if part.shape[0] < slots:
            pad = np.zeros((slots - part.shape[0], *values.shape[1:]), dtype=np.float64)
            part = np.concatenate([part.astype(np.float64), pad])
        out.append(np.ascontiguousarray(part, dtype=np.float64))
    return out


def encrypt_chunks(ctx: ts.Context, values: np.ndarray, slots: int = SLOTS) -> list[bytes]:
    return [ts.ckks_vector(ctx, chunk).serialize() for chunk in to_chunks(values, slots)]


def load_ciphertexts(ctx: ts.Context, blobs: Sequence[bytes]) -> list[ts.CKKSVector]:
    try:
        return [ts.ckks_vector_from(ctx, b) for b in blobs]
    except Exception as exc:
        raise FederationError(f"a ciphertext could not be loaded under this job's context: {exc}") from None


def decrypt_chunks(ctx: ts.Context, blobs: Sequence[bytes], n: int) -> np.ndarray:
    parts = [np.asarray(v.decrypt(), dtype=np.float64) for v in load_ciphertexts(ctx, blobs)]
    return np.concatenate(parts)[:n] if parts else np.zeros(0)


def decrypt_sum(ctx: ts.Context, blob: bytes, halves: int = 1) -> np.ndarray:
    """Slot sums of a masked accumulator: one total per equal slot segment."""
    (vec,) = load_ciphertexts(ctx, [blob])
    values = np.asarray(vec.decrypt(), dtype=np.float64)
    return np.asarray(values.reshape(halves, -1).sum(axis=1))


def zero_sum_mask(rng: np.random.Generator, size: int, amplitude: float, segments: int = 1) -> np.ndarray:
    """Random slot values that sum to exactly zero within each of ``segments`` equal segments."""
    mask = rng.uniform(-amplitude, amplitude, size=(segments, size // segments))
    mask -= mask.mean(axis=1, keepdims=True)
    return mask.reshape(-1)


def add_plain(ctx: ts.Context, ct: ts.CKKSVector, values: np.ndarray) -> ts.CKKSVector:
    """``ct + values`` for an unrescaled ct x plain product, which sits at the squared scale.

    TenSEAL refuses plain addends at that scale, so the addend is encrypted at it instead.
    """
    return ct + ts.ckks_vector(ctx, values, scale=ctx.global_scale**2)


def column_sums(
    ctx: ts.Context,
    chunks: Sequence[ts.CKKSVector],
    columns: Sequence[np.ndarray],
) -> list[ts.CKKSVector]:
    """For each plaintext column (already cut like ``chunks``), the slot-wise sum over chunks.

    ``columns[j]`` has shape (n_chunks, slots). Rescaling is deferred (the product stays at scale
    2^80), which halves the cost of each ct x plain product and loses no precision at this depth.
    """
    previous = ctx.auto_rescale
    ctx.auto_rescale = False
    try:
        out = []
        for column in columns:
            acc: ts.CKKSVector | None = None
            for ct, plain in zip(chunks, column, strict=True):
                if not plain.any():
                    continue
                term = ct * plain
                acc = term if acc is None else acc + term
            if acc is None:
                acc = chunks[0] * np.zeros(chunks[0].size())
            out.append(acc)
        return out
    finally:
        ctx.auto_rescale = previous
