"""Information value of the platform's features under encryption, before training.

The bank holds the labels of the aligned rows, the platform the features; neither shows the other its
half. One exchange, ``iv.request`` -> ``iv.result`` (declared in ``_iv_messages``), after the PSI
aligned the job:

1. The bank encrypts its labels (0/1, join order) under CKKS, 4,096 rows per ciphertext, and sends them
   with the public context (rotation keys included, no secret key).
2. For each platform feature the platform cuts its aligned values into quantile bins (at most ``bins``;
   missing values were filled with the feature's median, as in training). For each bin it multiplies
   the label ciphertexts by the bin's 0/1 membership mask, adds them up and sums the slots: one
   ciphertext holding the bin's number of bads. It returns, per feature, the bins **in a random order**:
   each bin's size in the clear and its encrypted bad count.
3. The bank decrypts the counts, derives goods = size − bads, and computes WOE and IV per feature
   exactly as for its own features (:func:`fincredit.federation.scorecard.woe_table`'s smoothing).

What each party learns:

* The bank learns, per platform feature, the unordered list of (bin size, bad count) pairs of the
  platform's quantile bins, hence the feature's IV. It does not learn the bin thresholds, which bin is
  low or high, any feature value, or which of its rows fall in which bin: the counts are sums over the
  bins, and the bins come shuffled.
* The platform learns nothing about the labels (it only ever holds ciphertexts under the bank's key),
  only the number of aligned rows it already knew from the PSI.

Cost: per feature and bin, one plaintext multiply per 4,096 rows and one slot sum (12 rotations at
N = 8192); the bank's upload is one ciphertext (~300 kB) per 4,096 rows plus the context.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import tenseal as ts

from fincredit.federation._iv_messages import IvBins, IvRequest, IvResult, receive
from fincredit.federation._runtime import raise_for_error
from fincredit.federation.errors import PartyError
from fincredit.federation.wire import Frame, Link

__all__ = [
    "IV_REQUEST",
    "IV_RESULT",
    "IvBins",
    "bank_iv_request",
    "bank_iv_values",
    "platform_information_values",
    "platform_iv_bins",
    "platform_iv_reply",
]

IV_REQUEST = IvRequest.KIND
IV_RESULT = IvResult.KIND
_POLY = 8192
_SLOTS = _POLY // 2
_SCALE = 2.0**40


def bank_iv_request(labels: np.ndarray) -> tuple[ts.Context, bytes, list[bytes]]:
    """The bank's side of step 1: its context (kept), the public context and the label ciphertexts."""
    y = np.asarray(labels, dtype=np.float64).ravel()
    if y.size == 0 or not set(np.unique(y)) <= {0.0, 1.0}:
        raise ValueError("IV needs the aligned rows' labels as 0/1")
    ctx = ts.context(ts.SCHEME_TYPE.CKKS, _POLY, coeff_mod_bit_sizes=[60, 40, 40, 60])
    ctx.global_scale = _SCALE
    ctx.generate_galois_keys()
    public = ctx.serialize(save_public_key=True, save_secret_key=False, save_galois_keys=True)
    # Every ciphertext carries a full 4,096 slots (zeros past the last row), so the platform can add
    # the masked chunks slot-wise before one slot sum per bin.
    padded = np.zeros(-(-y.size // _SLOTS) * _SLOTS)
    padded[: y.size] = y
    chunks = [
        ts.ckks_vector(ctx, padded[i : i + _SLOTS].tolist()).serialize() for i in range(0, y.size, _SLOTS)
    ]
    return ctx, public, chunks


def _bins(values: np.ndarray, bins: int) -> np.ndarray:
    inner = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
    return np.searchsorted(inner, values, side="left")


def platform_iv_bins(
    public_context: bytes,
    label_chunks: list[bytes],
    features: pd.DataFrame,
    *,
    bins: int = 10,
    rng: np.random.Generator | None = None,
) -> list[IvBins]:
    """The platform's side of step 2 over its aligned, filled ``features`` (join order)."""
    rng = rng or np.random.default_rng()
    try:
        ctx = ts.context_from(public_context)
        if ctx.has_secret_key():
            raise PartyError(
                "the IV request's context carries a secret key; send the public one", code="protocol"
            )
        cts = [ts.ckks_vector_from(ctx, c) for c in label_chunks]
    except PartyError:
        raise
    except Exception as exc:  # TenSEAL raises bare exceptions on malformed input
        raise PartyError(f"the IV request's ciphertexts cannot be read: {exc}", code="protocol") from None
    n = len(features)
    if len(cts) != -(-n // _SLOTS):
        raise PartyError(
            f"the IV request has {len(cts)} label ciphertexts for {n} aligned rows", code="protocol"
        )
    out: list[IvBins] = []
    for name in features.columns:
        values = features[name].to_numpy(dtype=np.float64)
        idx = _bins(values, bins)
        found = np.unique(idx)
        order = rng.permutation(found.size)
        sizes, bads = [], []
        for b in found[order]:
            mask = np.zeros(len(cts) * _SLOTS)
            mask[:n] = idx == b
            acc: ts.CKKSVector | None = None
            for c, ct in enumerate(cts):
                part = mask[c * _SLOTS : (c + 1) * _SLOTS]
                if not part.any():
                    continue
                term = ct * part.tolist()
                acc = term if acc is None else acc + term
            assert acc is not None  # every bin found has at least one row
            sizes.append(int(mask.sum()))
            bads.append(acc.sum().serialize())
        out.append(IvBins(str(name), sizes, bads))
    return out


def bank_iv_values(ctx: ts.Context, result: list[IvBins]) -> pd.DataFrame:
    """Step 3: per platform feature, its IV and the number of bins (the bank's view: no thresholds)."""
    from fincredit.federation.scorecard import _woe_from_counts

    rows = []
    for f in result:
        bad = np.array([round(ts.ckks_vector_from(ctx, b).decrypt()[0]) for b in f.bads], dtype=np.float64)
        size = np.asarray(f.sizes, dtype=np.float64)
        bad = np.clip(bad, 0, size)
        _, iv = _woe_from_counts(bad, size - bad)
        rows.append({"feature": f.feature, "iv": float(iv.sum()), "bins": len(f.sizes)})
    return pd.DataFrame(rows).set_index("feature").sort_values("iv", ascending=False)


def platform_iv_reply(frame: Frame, features: pd.DataFrame, *, max_bins: int = 20) -> Frame:
    """Answer an ``iv.request`` frame over the job's aligned platform features (join order)."""
    request = receive(frame, IvRequest)
    if not 2 <= request.bins <= max_bins:
        raise PartyError(f"'bins' must be an integer in 2..{max_bins}", code="protocol")
    if request.n_rows != len(features):
        raise PartyError(
            f"the job aligned {len(features)} rows, the IV request names {request.n_rows}", code="protocol"
        )
    result = platform_iv_bins(request.public_context, request.labels, features, bins=request.bins)
    return IvResult(result).to_frame(frame.job_id)


def platform_information_values(
    link: Link, job_id: str, labels: np.ndarray, *, bins: int = 10
) -> pd.DataFrame:
    """The bank's whole exchange: IV per platform feature of an aligned job (labels in join order)."""
    ctx, public, chunks = bank_iv_request(labels)
    request = IvRequest(int(np.asarray(labels).size), bins, public, chunks)
    reply = receive(raise_for_error(link.call(request.to_frame(job_id))), IvResult)
    return bank_iv_values(ctx, reply.features)
