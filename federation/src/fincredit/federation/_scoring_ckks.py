"""CKKS parameters, limits and the guarded (de)serialisation both scoring parties rely on.

The bank's context is *symmetric* (secret-key encryption): nothing in the scoring protocols needs the
platform to encrypt, relinearise or rotate, so the context the bank sends is parameters only (about
a hundred bytes, no public, relinearisation or Galois keys), and fresh ciphertexts serialise with a
seed in place of half their polynomials. The platform only multiplies ciphertexts by plaintexts and
adds plaintexts, which costs one rescale: hence one 40-bit middle prime.

Every byte string from the other party passes a size check before TenSEAL sees it, and every object
TenSEAL builds is checked against the allowed parameter set after loading. Garbage, truncated and
bit-flipped inputs were fuzzed in subprocesses: TenSEAL/SEAL raise ``ValueError``/``RuntimeError``
for them (no crash), which is mapped to the scoring errors here.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tenseal as ts

# Registers SEAL's Modulus type with pybind11, without which a context's plain modulus cannot be read.
import tenseal.sealapi

from fincredit.federation.errors import ScoringCiphertextError, ScoringContextError, ScoringRequestError

__all__ = [
    "DEFAULT_BFV_PARAMS",
    "DEFAULT_PARAMS",
    "LR_BFV_PARAMS",
    "BfvParams",
    "CkksParams",
    "ContextCache",
    "ScoringLimits",
    "load_ciphertext",
    "make_bank_context",
    "public_context_bytes",
]


@dataclass(frozen=True, slots=True)
class CkksParams:
    """One CKKS parameter set: ring degree, coefficient-modulus prime sizes (bits), scale exponent."""

    poly_modulus_degree: int
    coeff_mod_bit_sizes: tuple[int, ...]
    scale_bits: int

    @property
    def slots(self) -> int:
        return self.poly_modulus_degree // 2

    @property
    def scale(self) -> float:
        return float(2**self.scale_bits)

    def max_ciphertext_bytes(self) -> int:
        # Two polynomials of N 64-bit words per prime (an unseeded, uncompressed fresh ciphertext),
        # plus the TenSEAL/SEAL headers.
        return 2 * self.poly_modulus_degree * 8 * len(self.coeff_mod_bit_sizes) + 64 * 1024


# N = 8192 gives 4096 applicants per ciphertext and 128-bit security up to 218 modulus bits; 160 used.
# Scale 2^40 leaves ~20 integer bits in the 60-bit data prime and ~1e-7 absolute error per value.
DEFAULT_PARAMS = CkksParams(poly_modulus_degree=8192, coeff_mod_bit_sizes=(60, 40, 60), scale_bits=40)


@dataclass(frozen=True, slots=True)
class BfvParams:
    """One BFV parameter set (exact integer slots), used by the ``tree-masked`` protocol."""

    poly_modulus_degree: int
    coeff_mod_bit_sizes: tuple[int, ...]
    plain_modulus: int

    @property
    def slots(self) -> int:
        return self.poly_modulus_degree

    def max_ciphertext_bytes(self) -> int:
        return 2 * self.poly_modulus_degree * 8 * len(self.coeff_mod_bit_sizes) + 64 * 1024


# A 40-bit batching prime (= 1 mod 2N): 8192 exact integer slots. Two 60-bit data primes leave room
# for one plaintext multiplication by a full-range value (checked exhaustively by the tests' worst case).
DEFAULT_BFV_PARAMS = BfvParams(
    poly_modulus_degree=8192, coeff_mod_bit_sizes=(60, 60, 60), plain_modulus=1099511480321
)
# lr-masked multiplies two fixed-point numbers, so it needs a wider plaintext modulus (a 50-bit batching
# prime) and a third data prime for the noise of a full-range plaintext product (exact in the tests).
LR_BFV_PARAMS = BfvParams(
    poly_modulus_degree=8192, coeff_mod_bit_sizes=(60, 60, 60, 38), plain_modulus=1125899906826241
)
Params = CkksParams | BfvParams


@dataclass(frozen=True, slots=True)
class ScoringLimits:
    """What the platform accepts in one scoring request (its service may tighten or extend these)."""

    allowed_params: frozenset[Params] = field(
        default_factory=lambda: frozenset({DEFAULT_PARAMS, DEFAULT_BFV_PARAMS, LR_BFV_PARAMS})
    )
    max_context_bytes: int = 2 * 1024 * 1024
    max_rows: int = 200_000
    max_ciphertexts: int = 20_000
    max_tree_groups: int = 20_000
    cached_contexts: int = 16

    def check_ciphertext_size(self, params: Params, n: int) -> None:
        if n > params.max_ciphertext_bytes():
            raise ScoringCiphertextError(
                f"a ciphertext of {n} bytes exceeds {params.max_ciphertext_bytes()} "
                f"for N={params.poly_modulus_degree}",
                code="too_large",
                status=413,
            )


def make_bank_context(params: Params = DEFAULT_PARAMS) -> ts.Context:
    """The bank's private context (holds the secret key; never leaves the bank)."""
    if isinstance(params, BfvParams):
        return ts.context(
            ts.SCHEME_TYPE.BFV,
            params.poly_modulus_degree,
            plain_modulus=params.plain_modulus,
            coeff_mod_bit_sizes=list(params.coeff_mod_bit_sizes),
            encryption_type=ts.ENCRYPTION_TYPE.SYMMETRIC,
        )
    ctx = ts.context(
        ts.SCHEME_TYPE.CKKS,
        params.poly_modulus_degree,
        coeff_mod_bit_sizes=list(params.coeff_mod_bit_sizes),
        encryption_type=ts.ENCRYPTION_TYPE.SYMMETRIC,
    )
    ctx.global_scale = params.scale
    return ctx


def public_context_bytes(ctx: ts.Context) -> bytes:
    """What the bank sends: the parameters only, never the secret key."""
    return bytes(
        ctx.serialize(
            save_public_key=False, save_secret_key=False, save_galois_keys=False, save_relin_keys=False
        )
    )


def context_params(ctx: ts.Context) -> Params:
    """Read the parameter set back from a loaded context (walks SEAL's modulus-switching chain)."""
    seal = ctx.seal_context().data
    key = seal.key_context_data()
    scheme = key.parms().scheme()
    if scheme not in (ts.SCHEME_TYPE.CKKS.value, ts.SCHEME_TYPE.BFV.value):
        raise ScoringContextError("the context is neither CKKS nor BFV")
    totals: list[int] = []
    data = seal.first_context_data()
    while data is not None:
        totals.append(int(data.total_coeff_modulus_bit_count()))
        data = data.next_context_data()
    # Each level drops one data prime, so consecutive totals give the prime sizes; the key level
    # adds the special prime at the end.
    primes = [totals[i] - totals[i + 1] for i in range(len(totals) - 1)] + [totals[-1]]
    primes = primes[::-1]
    special = int(key.total_coeff_modulus_bit_count()) - totals[0]
    bits = (*primes, special) if special > 0 else tuple(primes)
    degree = int(key.parms().poly_modulus_degree())
    if scheme == ts.SCHEME_TYPE.BFV.value:
        return BfvParams(degree, bits, int(key.parms().plain_modulus().value()))
    scale = float(ctx.global_scale)
    scale_bits = round(float(np.log2(scale))) if scale > 0 else 0
    if scale <= 0 or 2.0**scale_bits != scale:
        raise ScoringContextError(f"the context's scale {scale!r} is not a power of two")
    return CkksParams(degree, bits, scale_bits)


@dataclass(slots=True)
class LoadedContext:
    context: ts.Context
    params: Params
    digest: str
    first_parms_id: object


class ContextCache:
    """Platform-side: validates the bank's context once and keeps it by digest (building one takes ms)."""

    def __init__(self, limits: ScoringLimits) -> None:
        self._limits = limits
        self._items: OrderedDict[str, LoadedContext] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, data: bytes) -> LoadedContext:
        if not data:
            raise ScoringContextError("the request carries no CKKS context")
        if len(data) > self._limits.max_context_bytes:
            raise ScoringContextError(
                f"a context of {len(data)} bytes exceeds the limit of {self._limits.max_context_bytes}",
                code="too_large",
                status=413,
            )
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            hit = self._items.get(digest)
            if hit is not None:
                self._items.move_to_end(digest)
                return hit
        loaded = self._build(data, digest)
        with self._lock:
            self._items[digest] = loaded
            while len(self._items) > self._limits.cached_contexts:
                self._items.popitem(last=False)
        return loaded

    def _build(self, data: bytes, digest: str) -> LoadedContext:
        try:
            ctx = ts.context_from(data)
        except (ValueError, RuntimeError, TypeError) as exc:
            raise ScoringContextError(f"the CKKS context could not be parsed: {exc}") from None
        # The platform must never be able to decrypt: a context that carries the secret key is
        # refused outright rather than stripped, so a buggy client is noticed.
        if ctx.is_private() or ctx.has_secret_key():
            raise ScoringContextError(
                "the context carries a secret key; send it without (public_context_bytes)", code="secret_key"
            )
        try:
            params = context_params(ctx)
        except (ValueError, RuntimeError, TypeError) as exc:
            raise ScoringContextError(f"the CKKS context parameters are unreadable: {exc}") from None
        if params not in self._limits.allowed_params:
            allowed = "; ".join(_describe(p) for p in sorted(self._limits.allowed_params, key=_describe))
            raise ScoringContextError(f"parameters {_describe(params)} are not allowed (allowed: {allowed})")
        first = ctx.seal_context().data.first_parms_id()
        return LoadedContext(ctx, params, digest, first)


def _describe(p: Params) -> str:
    if isinstance(p, BfvParams):
        return f"BFV N={p.poly_modulus_degree} moduli={list(p.coeff_mod_bit_sizes)} t={p.plain_modulus}"
    return f"CKKS N={p.poly_modulus_degree} moduli={list(p.coeff_mod_bit_sizes)} scale=2^{p.scale_bits}"


def load_ciphertext(
    loaded: LoadedContext, data: bytes, *, slots_used: int, limits: ScoringLimits
) -> ts.CKKSVector:
    """Deserialise one fresh CKKS ciphertext from the bank and check it is what the protocol expects."""
    if not isinstance(loaded.params, CkksParams):
        raise ScoringContextError("this protocol needs a CKKS context")
    scale = loaded.params.scale
    vec = _load(loaded, data, slots_used, limits, ts.ckks_vector_from, ntt=True, scale=scale)
    assert isinstance(vec, ts.CKKSVector)
    return vec


def load_bfv_ciphertext(
    loaded: LoadedContext, data: bytes, *, slots_used: int, limits: ScoringLimits
) -> ts.BFVVector:
    """Deserialise one fresh BFV ciphertext from the bank and check it is what the protocol expects."""
    if not isinstance(loaded.params, BfvParams):
        raise ScoringContextError("this protocol needs a BFV context")
    vec = _load(loaded, data, slots_used, limits, ts.bfv_vector_from, ntt=False, scale=None)
    assert isinstance(vec, ts.BFVVector)
    return vec


def _load(
    loaded: LoadedContext,
    data: bytes,
    slots_used: int,
    limits: ScoringLimits,
    parse: Any,
    *,
    ntt: bool,
    scale: float | None,
) -> ts.CKKSVector | ts.BFVVector:
    limits.check_ciphertext_size(loaded.params, len(data))
    try:
        vec = parse(loaded.context, data)
        if vec.size() != slots_used:
            raise ScoringCiphertextError(
                f"a ciphertext packs {vec.size()} values where {slots_used} were expected"
            )
        (ct,) = vec.data.ciphertext()
        ok = (
            ct.size() == 2
            and ct.is_ntt_form() == ntt
            and ct.parms_id() == loaded.first_parms_id
            and (scale is None or ct.scale == scale)
        )
    except ScoringCiphertextError:
        raise
    except (ValueError, RuntimeError, TypeError) as exc:
        raise ScoringCiphertextError(
            f"a ciphertext could not be parsed under the request's context: {exc}"
        ) from None
    if not ok:
        raise ScoringCiphertextError(
            "a ciphertext is not a fresh encryption at the context's top level and scale"
        )
    return vec


def chunk_bounds(n_rows: int, slots: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + slots, n_rows)) for lo in range(0, n_rows, slots)]


def check_count(got: int, expected: int, what: str) -> None:
    if got != expected:
        raise ScoringRequestError(f"expected {expected} {what}, got {got}")
