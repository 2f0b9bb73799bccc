"""Joint logistic regression under CKKS: the arithmetic of both sides and the plaintext reference.

Packing is by column: one ciphertext carries one input column for up to N/2 applicants (4,096 at
N = 8192), so a request of n applicants and k encrypted columns costs k·ceil(n/4096) ciphertexts and
the platform's work is slot-wise (no rotations, no Galois keys).

Two protocols; the bank chooses one per model when it finishes training. The SDK's default is
``lr-partial`` (below), which needs no deposit; the deposited ones apply to a part whose weights the
bank handed over with ``deposit_bank_half``.

``lr-deposited``. At the end of training the bank deposits its half (weights, intercept)
with the platform and keeps only its standardisation for scoring. The bank encrypts its standardised
features, one ciphertext per feature per chunk; the platform computes
``Σ_j w_bank_j · enc(z_bank_j) + (intercept + w_platform · z_platform)`` homomorphically and
returns ``enc(logit)``. The bank decrypts the log-odds and applies the exact sigmoid.
 * The platform learns the bank's weights and intercept (deposited), which applicants are scored,
   and nothing about the bank's features or the scores (it only holds ciphertexts).
 * The bank learns each applicant's logit. Since the bank's weights are not in its scoring part it
   cannot subtract its own share, so the platform's per-applicant contribution stays hidden from a
   bank that honours the deposit. A bank that kept a copy of its weights (or re-scores one applicant
   with chosen features to solve for them) can still compute ``w_platform·z_platform``: the deposit
   is an operational control, not a cryptographic one, and the docs say so.

``lr-masked`` (the SDK's choice for small requests under a deposit). Same trust model as
``lr-deposited``, carried in exact BFV slots (:mod:`fincredit.federation._scoring_masked`): the bank sends
its standardised features at 2^-18, one slot per (applicant, feature); the platform multiplies each
slot by the deposited weight at 2^-19 (0 for refused rows) and adds zero-sum masks whose per-applicant
sum is its own term ``intercept + w_platform·z_platform``; the bank sums an applicant's slots. One
ciphertext holds 1,170 applicants of 7 features, so a single applicant costs one encryption instead of
seven. The bank sees each slot uniformly masked, i.e. only the logit, as in ``lr-deposited``.

``lr-partial`` (default). The bank keeps its weights and encrypts only its partial logit
``intercept + w_bank·z_bank`` (one ciphertext per chunk: ~8x fewer ciphertexts than 7 features);
the platform adds ``w_platform·z_platform`` in plaintext-ciphertext addition and returns
``enc(logit)``. The platform learns nothing about the bank's half; the bank learns the logit and so,
knowing its own share, the platform's aggregate contribution per applicant (one number, not the
platform's features or weights).

Why the log-odds and not a polynomial sigmoid: the score must match plaintext probabilities within
1e-4. Least-squares polynomial fits of the sigmoid are far from that: degree 3 on [-5, 5] is off by
up to 6.1e-2, degree 7 on [-8, 8] by 3.2e-2, degree 7 on [-5, 5] by 7.5e-3 (and unbounded outside the
interval). They also need two or three more multiplicative levels (N = 16384, relinearisation keys
of several MB in the context, ~4x the time), and they hide nothing: the sigmoid is invertible, so the
bank recovers the logit from the probability anyway. Returning the logit and applying the exact
sigmoid at the bank gives ~1e-7 absolute error.

Refused rows (no consent, unknown subject) get no platform contribution; in ``lr-deposited`` their
slots are multiplied by zero, so the bank gets nothing computed with its deposited weights either.
Missing feature values count as the training mean (standardised value 0), identically in the
plaintext reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tenseal as ts

from fincredit.federation._scoring_masked import quantise
from fincredit.federation.errors import ScoringModelError
from fincredit.federation.joint_model import BankLogisticPart, PlatformLogisticPart

__all__ = [
    "LR_DEPOSITED",
    "LR_FEATURE_BITS",
    "LR_MASKED",
    "LR_PARTIAL",
    "LR_WEIGHT_BITS",
    "LogisticDeposit",
    "bank_lr_columns",
    "deposit_bank_half",
    "plaintext_logistic_logit",
    "platform_lr_evaluate",
    "platform_lr_masked_terms",
    "sigmoid",
    "standardise",
]

LR_DEPOSITED = "lr-deposited"
LR_MASKED = "lr-masked"
LR_PARTIAL = "lr-partial"
# lr-masked fixed point: standardised features at 2^-18, weights at 2^-19, so the logit is carried at
# 2^-37 and must stay within ±2^(49-37) = ±4096 (any sane model); rounding keeps the logit within
# ~Σ_j (|w_j|·2^-19 + |z_j|·2^-20) of the exact value (3e-5 for 7 features with |w|, |z| ~ 2-3).
LR_FEATURE_BITS = 18
LR_WEIGHT_BITS = 19


@dataclass(frozen=True, slots=True)
class LogisticDeposit:
    """The platform's store for an ``lr-deposited`` model: its own half and the bank's deposited half."""

    platform: PlatformLogisticPart
    bank: BankLogisticPart


def deposit_bank_half(part: BankLogisticPart) -> tuple[BankLogisticPart, BankLogisticPart]:
    """Split the bank's trained half for ``lr-deposited``: (what the platform stores, what the bank keeps).

    The bank keeps its feature list and standardisation (all the SDK needs to encrypt), not its weights
    or intercept; whether it also destroys its training copy is the bank's governance, not cryptography.
    """
    deposit = BankLogisticPart(part.model_id, list(part.features), list(part.weights), part.intercept)
    keep = BankLogisticPart(part.model_id, list(part.features), [], 0.0, list(part.means), list(part.scales))
    return deposit, keep


def sigmoid(logit: np.ndarray) -> np.ndarray:
    out = np.empty_like(logit, dtype=np.float64)
    pos = logit >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-logit[pos]))
    e = np.exp(logit[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def standardise(x: np.ndarray, means: list[float], scales: list[float]) -> np.ndarray:
    """Apply the training standardisation; missing values become 0 (the training mean)."""
    z = np.asarray(x, dtype=np.float64)
    if means:
        z = z - np.asarray(means, dtype=np.float64)
    if scales:
        s = np.asarray(scales, dtype=np.float64)
        z = z / np.where(s == 0, 1.0, s)
    return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)


def _partial(x: np.ndarray, weights: list[float], means: list[float], scales: list[float]) -> np.ndarray:
    return standardise(x, means, scales) @ np.asarray(weights, dtype=np.float64)


def plaintext_logistic_logit(
    bank: BankLogisticPart, platform: PlatformLogisticPart, x_bank: np.ndarray, x_platform: np.ndarray
) -> np.ndarray:
    """The joint model's log-odds on joined plaintext data: the reference encrypted scoring must match."""
    return np.asarray(
        bank.intercept
        + _partial(x_bank, bank.weights, bank.means, bank.scales)
        + _partial(x_platform, platform.weights, platform.means, platform.scales)
    )


def bank_lr_columns(part: BankLogisticPart, x_bank: np.ndarray, protocol: str) -> np.ndarray:
    """The n x k matrix the bank encrypts column by column for ``protocol``."""
    if protocol == LR_PARTIAL:
        return (part.intercept + _partial(x_bank, part.weights, part.means, part.scales)).reshape(-1, 1)
    if protocol in (LR_DEPOSITED, LR_MASKED):
        return standardise(x_bank, part.means, part.scales)
    raise ValueError(f"unknown logistic scoring protocol {protocol!r}")


def lr_columns_expected(model: PlatformLogisticPart | LogisticDeposit, protocol: str) -> int:
    if protocol in (LR_DEPOSITED, LR_MASKED):
        assert isinstance(model, LogisticDeposit)
        return len(model.bank.weights)
    return 1


def platform_lr_evaluate(
    model: PlatformLogisticPart | LogisticDeposit,
    protocol: str,
    columns: list[ts.CKKSVector],
    x_platform: np.ndarray,
    scored: np.ndarray,
) -> ts.CKKSVector | None:
    """One chunk: the bank's encrypted columns in, ``enc(logit)`` out (refused slots carry no platform term).

    None when no row of the chunk is scored (the response then carries an empty blob for it).

    ``x_platform`` has a row per slot (refused rows may hold anything); ``scored`` is the boolean mask.
    """
    if not scored.any():
        # Nothing to add for anyone; TenSEAL cannot even form ``ct * 0`` without an encryption key.
        return None
    platform = model.platform if isinstance(model, LogisticDeposit) else model
    own = _partial(x_platform, platform.weights, platform.means, platform.scales)
    if protocol == LR_PARTIAL:
        return columns[0] + np.where(scored, own, 0.0)
    assert isinstance(model, LogisticDeposit)
    all_scored = bool(scored.all())
    mask = scored.astype(np.float64)
    acc: ts.CKKSVector | None = None
    for ct, w in zip(columns, model.bank.weights, strict=True):
        if w == 0.0:
            continue  # a zero product is a transparent ciphertext, which SEAL refuses to form
        # A scalar multiply is half the cost of a vector one; the mask is only needed for refusals.
        term = ct * float(w) if all_scored else ct * (mask * float(w))
        acc = term if acc is None else acc + term
    if acc is None:
        raise ScoringModelError(
            "the deposited bank weights are all zero: there is no ciphertext to carry the score",
            code="unsupported_model",
            status=422,
        )
    return acc + np.where(scored, own + model.bank.intercept, 0.0)


def platform_lr_masked_terms(
    model: LogisticDeposit, x_platform: np.ndarray, scored: np.ndarray, plain_modulus: int
) -> tuple[np.ndarray, np.ndarray]:
    """``lr-masked``: per-slot multipliers (fixed-point deposited weights, 0 for refused rows) and the
    per-applicant offset (intercept + platform share at the product's fixed point, 0 when refused)."""
    w = quantise(np.asarray(model.bank.weights, dtype=np.float64), LR_WEIGHT_BITS)
    multipliers = np.where(scored[:, None], w[None, :], 0).astype(np.int64)
    own = _partial(x_platform, model.platform.weights, model.platform.means, model.platform.scales)
    offset = quantise(np.where(scored, own + model.bank.intercept, 0.0), LR_FEATURE_BITS + LR_WEIGHT_BITS)
    return multipliers, offset % plain_modulus
