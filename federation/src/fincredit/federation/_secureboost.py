"""SecureBoost-style vertical gradient-boosted trees under CKKS (bank = label holder = active party).

Per tree the bank computes logistic-loss gradients ``g`` and hessians ``h`` and grows the tree
depth-wise. For every node whose histogram it needs, it sends the platform the node's instance set
(positions in the training rows) and ``Enc(g | h)``: one ciphertext carries 2048 rows, ``g`` in the
first half of the slots and ``h`` in the second, so one 0/1 bin mask serves both. The platform bins
its features privately (quantile cut points that never leave it) and returns, per (feature, bin)
that holds rows of the node, ``sum_c Enc(g|h)_c · mask_c`` plus a random mask whose slots sum to zero
within each half. The bank decrypts and sums each half: the per-bin ``G`` and ``H``. No rotation,
no ciphertext product. Histogram subtraction: only the smaller child of each split is requested; the
sibling is the parent minus it, in the clear at the bank.

The bank picks the best split over both parties' features with the second-order gain
``G_L²/(H_L+λ) + G_R²/(H_R+λ) - G²/(H+λ)`` under ``min_data_in_leaf`` and ``min_child_weight``. For
a platform split it sends (node rows, feature index, bin index); the platform records
``split_id -> (feature, threshold)`` and returns only the split id and the left/right partition.

What each party learns:

- bank: for every node and every platform feature, the per-bin sums of ``g`` and ``h`` and the per-bin
  row counts (bins in threshold order, thresholds unknown), hence the bank's own gradient statistics
  per platform bin; the **instance partition of every split**, platform splits included (this is how
  SecureBoost works: the bank needs it to grow the tree and to update its predictions); which
  platform feature index each platform split uses; at evaluation, the left/right partition of the
  held-out rows at each platform split. Never a platform feature value or threshold.
- platform: the number of bins of its own features, the instance set of every node the bank asks a
  histogram for (that is, the partitions made by the bank's splits too), the tree shapes implied by
  it. Never a label, gradient, hessian, leaf value or bank feature (g and h reach it encrypted).

Cost per requested node: ``(non-empty bins) x ceil(rows/2048)`` ct x plain products.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import tenseal as ts

from fincredit.federation._ckks import (
    SECUREBOOST_COEFF_MOD_BITS,
    SECUREBOOST_SCALE_BITS,
    SLOTS,
    add_plain,
    column_sums,
    encrypt_chunks,
    load_ciphertexts,
    load_public_context,
    new_secret_context,
    private_rng,
    public_context_bytes,
)
from fincredit.federation._runtime import Channel, raise_for_error
from fincredit.federation.errors import FederationError
from fincredit.federation.joint_model import BankTreePart, PlatformSplit, PlatformTreePart, TreeNode
from fincredit.federation.wire import Frame, Link

__all__ = [
    "BankSecureBoostTrainer",
    "PlatformSecureBoostJob",
    "SecureBoostParams",
    "bin_feature",
    "decrypt_segments",
    "encrypted_histogram",
    "quantile_thresholds",
    "tree_scores",
]

_HALF = SLOTS // 2


@dataclass(slots=True)
class SecureBoostParams:
    n_trees: int = 20
    max_depth: int = 3
    learning_rate: float = 0.1
    max_bin: int = 32
    l2: float = 1.0
    min_data_in_leaf: int = 20
    min_child_weight: float = 1e-3


_ZERO = 1e-35  # LightGBM's kZeroThreshold: zero always gets a bin of its own


def _greedy_bounds(
    distinct: np.ndarray, counts: np.ndarray, max_bin: int, min_data_in_bin: int
) -> list[float]:
    """LightGBM's GreedyFindBin: upper bounds (without the final +inf) of at most ``max_bin`` bins."""
    n = distinct.size
    bounds: list[float] = []
    if n <= max_bin:
        in_bin = 0
        for i in range(n - 1):
            in_bin += int(counts[i])
            if in_bin >= min_data_in_bin:
                bounds.append(float((distinct[i] + distinct[i + 1]) / 2.0))
                in_bin = 0
        return bounds
    total = int(counts.sum())
    if min_data_in_bin > 0:
        max_bin = max(1, min(max_bin, total // min_data_in_bin))
    mean_size = total / max_bin
    big = counts >= mean_size
    rest_bins = max_bin - int(big.sum())
    rest_count = float(total - counts[big].sum())
    mean_size = rest_count / max(rest_bins, 1)
    in_bin = 0
    for i in range(n - 1):
        if not big[i]:
            rest_count -= counts[i]
        in_bin += int(counts[i])
        if big[i] or in_bin >= mean_size or (big[i + 1] and in_bin >= max(1.0, mean_size * 0.5)):
            bounds.append(float((distinct[i] + distinct[i + 1]) / 2.0))
            if len(bounds) >= max_bin - 1:
                break
            in_bin = 0
            if not big[i]:
                rest_bins -= 1
                mean_size = rest_count / max(rest_bins, 1)
    return bounds


def quantile_thresholds(values: np.ndarray, max_bin: int, min_data_in_bin: int = 3) -> np.ndarray:
    """Cut points (go left when ``value <= t``) chosen as LightGBM chooses its bins.

    Zero gets a bin of its own; negative and positive values share the other bins in proportion to
    their counts; within each side, every distinct value is its own bin when they are few (merging
    values seen fewer than ``min_data_in_bin`` times), otherwise frequent values get their own bin
    and the rest are cut into bins of near-equal counts. Identical bins make the federated trees
    LightGBM's trees, which is what the AUC comparison relies on.
    """
    finite = values[~np.isnan(values)]
    distinct, counts = np.unique(finite, return_counts=True)
    if distinct.size <= 1:
        return np.zeros(0)
    negative = distinct <= -_ZERO
    positive = distinct > _ZERO
    n_zero = int(counts[~negative & ~positive].sum())
    bounds: list[float] = []
    if negative.any() and max_bin > 1:
        left_bins = max(1, int(counts[negative].sum() / (counts.sum() - n_zero) * (max_bin - 1)))
        bounds = _greedy_bounds(distinct[negative], counts[negative], left_bins, min_data_in_bin)
        bounds.append(-_ZERO)
    right_bins = max_bin - 1 - len(bounds)
    if positive.any() and right_bins > 0:
        if n_zero or negative.any():
            bounds.append(_ZERO)
        bounds += _greedy_bounds(distinct[positive], counts[positive], right_bins, min_data_in_bin)
    return np.asarray(sorted(set(bounds)), dtype=np.float64)


def bin_feature(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Bin index per row; a missing value falls in bin 0, so it follows every split left."""
    bins = np.searchsorted(thresholds, values, side="left")
    bins[np.isnan(values)] = 0
    return bins.astype(np.int32)


def _layout(n_rows: int) -> tuple[int, int]:
    """(segment length, replicas per half): a node that fits in a quarter ciphertext is replicated,
    so one returned ciphertext carries the sums of several bins in disjoint slot segments."""
    if n_rows <= _HALF // 2:
        seg = max(1, n_rows)
        return seg, _HALF // seg
    return _HALF, 1


def _pack_gh(g: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Rows to slots: blocks of 2048 rows laid out [g..., h...]; a small node is replicated."""
    seg, replicas = _layout(g.size)
    if replicas > 1:
        out = np.zeros(SLOTS)
        for r in range(replicas):
            out[r * seg : r * seg + g.size] = g
            out[_HALF + r * seg : _HALF + r * seg + h.size] = h
        return out
    n_chunks = max(1, -(-g.size // _HALF))
    packed = np.zeros((n_chunks, SLOTS))
    for c in range(n_chunks):
        part = slice(c * _HALF, (c + 1) * _HALF)
        k = g[part].size
        packed[c, :k] = g[part]
        packed[c, _HALF : _HALF + k] = h[part]
    return packed.reshape(-1)


def _bin_groups(bins: np.ndarray, n_bins: int) -> list[list[int]]:
    """Bins holding rows of the node, grouped by returned ciphertext (one bin per replica)."""
    _, replicas = _layout(bins.size)
    present = [int(b) for b in np.unique(bins) if 0 <= b < n_bins]
    return [present[i : i + replicas] for i in range(0, len(present), replicas)]


def _group_mask(bins: np.ndarray, group: list[int]) -> np.ndarray:
    """0/1 plaintext (n_chunks, SLOTS) selecting, in replica r of each half, the rows of bin group[r]."""
    seg, replicas = _layout(bins.size)
    if replicas > 1:
        out = np.zeros((1, SLOTS))
        for r, b in enumerate(group):
            m = (bins == b).astype(np.float64)
            out[0, r * seg : r * seg + bins.size] = m
            out[0, _HALF + r * seg : _HALF + r * seg + bins.size] = m
        return out
    n_chunks = max(1, -(-bins.size // _HALF))
    padded = np.full(n_chunks * _HALF, -1, dtype=np.int64)
    padded[: bins.size] = bins
    m = (padded.reshape(n_chunks, _HALF) == group[0]).astype(np.float64)
    return np.concatenate([m, m], axis=1)


def _segment_zero_mask(rng: np.random.Generator, n_rows: int, amplitude: float) -> np.ndarray:
    """Random slots summing to zero within every segment the bank will add up."""
    seg, replicas = _layout(n_rows)
    mask = rng.uniform(-amplitude, amplitude, SLOTS)
    for half in (0, _HALF):
        for r in range(replicas):
            part = slice(half + r * seg, half + (r + 1) * seg)
            mask[part] -= mask[part].mean()
    return mask


def encrypted_histogram(
    ctx: ts.Context,
    gh_chunks: Sequence[ts.CKKSVector],
    bins: np.ndarray,
    n_bins: int,
    rng: np.random.Generator,
    mask_amplitude: float,
    blinding: tuple[ts.CKKSVector, np.ndarray] | None = None,
) -> tuple[list[list[int]], list[bytes]]:
    """Masked per-bin accumulators of Enc(g|h) for one feature; the bank sums each segment's slots.

    ``blinding`` is (Enc(e), e) for a random ``e`` with |e| in [1, 2] encrypted once per request: the
    zero-sum mask ``v`` of each output is added as ``Enc(e)·(v/e)``, a ct x plain product costing a
    tenth of a fresh encryption.
    """
    groups = _bin_groups(bins, n_bins)
    columns = [_group_mask(bins, group) for group in groups]
    if blinding is None:
        accumulators = column_sums(ctx, gh_chunks, columns)
        blobs = [
            add_plain(ctx, acc, _segment_zero_mask(rng, bins.size, mask_amplitude)).serialize()
            for acc in accumulators
        ]
    else:
        enc_e, e = blinding
        with_mask = [
            np.vstack([col, (_segment_zero_mask(rng, bins.size, mask_amplitude) / e)[None, :]])
            for col in columns
        ]
        blobs = [acc.serialize() for acc in column_sums(ctx, [*gh_chunks, enc_e], with_mask)]
    return groups, blobs


def decrypt_segments(ctx: ts.Context, blob: bytes, n_rows: int, used: int) -> list[tuple[float, float]]:
    """(G, H) per replica segment of a returned histogram ciphertext."""
    (vec,) = load_ciphertexts(ctx, [blob])
    values = np.asarray(vec.decrypt(), dtype=np.float64)
    seg, _ = _layout(n_rows)
    return [
        (
            float(values[r * seg : (r + 1) * seg].sum()),
            float(values[_HALF + r * seg : _HALF + (r + 1) * seg].sum()),
        )
        for r in range(used)
    ]


def _rows_blob(rows: np.ndarray) -> bytes:
    return np.asarray(rows, dtype="<u4").tobytes()


def _rows_from(blob: bytes, n_max: int) -> np.ndarray:
    rows = np.frombuffer(blob, dtype="<u4").astype(np.int64)
    if rows.size and (rows.max() >= n_max or np.unique(rows).size != rows.size):
        raise FederationError("row positions are out of range or repeated")
    return rows


class PlatformSecureBoostJob:
    """The platform's half of one SecureBoost job: ``handle(frame) -> frame``, pure Python."""

    def __init__(
        self,
        features: pd.DataFrame,
        *,
        job_id: str = "",
        model_id: str = "",
        mask_amplitude: float = 64.0,
        min_node_rows: int = 20,
    ) -> None:
        # Both guards are the platform's own: the bank's parameters cannot lower them.
        self.mask_amplitude = mask_amplitude
        self.min_node_rows = min_node_rows
        self.job_id = job_id
        self.model_id = model_id or job_id or uuid.uuid4().hex
        self._all = features
        self._ctx: ts.Context | None = None
        self._params = SecureBoostParams()
        self._names: list[str] = []
        self._raw = np.zeros((0, 0))
        self._thresholds: list[np.ndarray] = []
        self._bins = np.zeros((0, 0), dtype=np.int32)
        self._train = np.zeros(0, dtype=np.int64)
        self._splits: dict[int, PlatformSplit] = {}
        self.done = False
        self._rng = private_rng()

    def handle(self, frame: Frame) -> Frame:
        handlers: dict[str, Callable[[Frame], Frame]] = {
            "sb.open": self._open,
            "sb.hist": self._hist,
            "sb.split": self._split,
            "sb.finish": self._finish,
            "sb.route": self._route,
        }
        handler = handlers.get(frame.kind)
        if handler is None:
            raise FederationError(f"unknown SecureBoost frame kind {frame.kind!r}")
        if frame.kind != "sb.open" and self._ctx is None:
            raise FederationError("the SecureBoost job has not been opened")
        return handler(frame)

    def model_part(self) -> PlatformTreePart:
        if not self.done:
            raise FederationError("the SecureBoost job has not finished training")
        return PlatformTreePart(
            model_id=self.model_id, platform_features=list(self._names), splits=dict(self._splits)
        )

    def _reply(
        self, kind: str, meta: dict[str, Any] | None = None, blobs: list[bytes] | None = None
    ) -> Frame:
        return Frame(kind=kind, job_id=self.job_id, meta=meta or {}, blobs=blobs or [])

    def _open(self, frame: Frame) -> Frame:
        if self._ctx is not None:
            raise FederationError("the SecureBoost job is already open")
        names = [str(n) for n in frame.meta.get("platform_features", [])]
        missing = [n for n in names if n not in self._all.columns]
        if not names or missing:
            raise FederationError(f"platform features not available for this job: {missing or 'none asked'}")
        if len(frame.blobs) != 2:
            raise FederationError("sb.open carries the public context and the training rows")
        ctx = load_public_context(frame.blobs[0], SECUREBOOST_SCALE_BITS)
        params = SecureBoostParams(**frame.meta["params"])
        if params.min_data_in_leaf < self.min_node_rows:
            raise FederationError(
                f"min_data_in_leaf must be at least {self.min_node_rows}: the platform serves no smaller node"
            )
        self._params = params
        self._raw = self._all[names].to_numpy(dtype=np.float64)
        self._train = _rows_from(frame.blobs[1], self._raw.shape[0])
        train_values = self._raw[self._train]
        self._thresholds = [
            quantile_thresholds(train_values[:, j], self._params.max_bin) for j in range(len(names))
        ]
        self._bins = np.stack(
            [bin_feature(train_values[:, j], t) for j, t in enumerate(self._thresholds)], axis=1
        )
        self._names = names
        self._ctx = ctx
        return self._reply("sb.ready", {"bins": [int(t.size + 1) for t in self._thresholds]})

    def _node_rows(self, blob: bytes) -> np.ndarray:
        return _rows_from(blob, self._train.size)

    def _hist(self, frame: Frame) -> Frame:
        assert self._ctx is not None
        if self.done:
            raise FederationError("the SecureBoost job has finished")
        rows = self._node_rows(frame.blobs[0])
        if rows.size < self.min_node_rows:
            raise FederationError(
                f"histograms are only served for nodes of at least {self.min_node_rows} rows"
            )
        gh = load_ciphertexts(self._ctx, frame.blobs[1:])
        if len(gh) != (1 if _layout(rows.size)[1] > 1 else max(1, -(-rows.size // _HALF))):
            raise FederationError("sb.hist carries the wrong number of ciphertexts for its rows")
        e = self._rng.uniform(1.0, 2.0, SLOTS) * self._rng.choice([-1.0, 1.0], SLOTS)
        blinding = (ts.ckks_vector(self._ctx, e), e)
        index: list[list[list[int]]] = []
        counts: list[list[int]] = []
        blobs: list[bytes] = []
        for j, thresholds in enumerate(self._thresholds):
            node_bins = self._bins[rows, j]
            groups, feature_blobs = encrypted_histogram(
                self._ctx,
                gh,
                node_bins,
                thresholds.size + 1,
                self._rng,
                self.mask_amplitude,
                blinding,
            )
            present = [b for group in groups for b in group]
            index.append(groups)
            counts.append([int(c) for c in np.bincount(node_bins, minlength=thresholds.size + 1)[present]])
            blobs.extend(feature_blobs)
        return self._reply("sb.histogram", {"bins": index, "counts": counts}, blobs)

    def _split(self, frame: Frame) -> Frame:
        if self.done:
            raise FederationError("the SecureBoost job has finished")
        rows = self._node_rows(frame.blobs[0])
        j, b = int(frame.meta["feature"]), int(frame.meta["bin"])
        if not 0 <= j < len(self._names) or not 0 <= b < self._thresholds[j].size:
            raise FederationError("split feature or bin out of range")
        split_id = len(self._splits)
        self._splits[split_id] = PlatformSplit(
            split_id=split_id,
            feature=self._names[j],
            threshold=float(self._thresholds[j][b]),
            default_left=True,
        )
        left = self._bins[rows, j] <= b
        return self._reply("sb.partition", {"split_id": split_id}, [np.packbits(left).tobytes()])

    def _finish(self, frame: Frame) -> Frame:
        self.done = True
        return self._reply("sb.done", {"splits": len(self._splits)})

    def _route(self, frame: Frame) -> Frame:
        if not self.done:
            raise FederationError("routing is available only after training")
        rows = _rows_from(frame.blobs[0], self._raw.shape[0])
        if np.intersect1d(rows, self._train).size:
            raise FederationError("evaluation rows must be held out of training")
        index = {n: j for j, n in enumerate(self._names)}
        blobs = []
        for split_id in range(len(self._splits)):
            s = self._splits[split_id]
            values = self._raw[rows, index[s.feature]]
            left = np.where(np.isnan(values), s.default_left, values <= s.threshold)
            blobs.append(np.packbits(left).tobytes())
        return self._reply("sb.directions", {"splits": len(blobs)}, blobs)


@dataclass(slots=True)
class _Histogram:
    """Per feature: arrays (G, H, count) over that feature's bins."""

    g: list[np.ndarray]
    h: list[np.ndarray]
    c: list[np.ndarray]

    def minus(self, other: _Histogram) -> _Histogram:
        return _Histogram(
            [a - b for a, b in zip(self.g, other.g, strict=True)],
            [a - b for a, b in zip(self.h, other.h, strict=True)],
            [a - b for a, b in zip(self.c, other.c, strict=True)],
        )


@dataclass(slots=True)
class _Node:
    node_id: int
    rows: np.ndarray  # positions in the training rows, ascending
    depth: int
    bank_hist: _Histogram | None = None
    platform_hist: _Histogram | None = None


@dataclass(slots=True)
class _Split:
    gain: float
    owner: str
    feature: int
    bin: int


@dataclass(slots=True)
class BoostingLog:
    trees: int = 0
    seconds: float = 0.0
    histogram_requests: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def _best_split(hist: _Histogram, owner: str, p: SecureBoostParams) -> _Split | None:
    best: _Split | None = None
    for j in range(len(hist.g)):
        g, h, c = hist.g[j], hist.h[j], hist.c[j]
        if g.size < 2:
            continue
        gl, hl, cl = np.cumsum(g)[:-1], np.cumsum(h)[:-1], np.cumsum(c)[:-1]
        gt, ht, ct = g.sum(), h.sum(), c.sum()
        gr, hr, cr = gt - gl, ht - hl, ct - cl
        gain = gl**2 / (hl + p.l2) + gr**2 / (hr + p.l2) - gt**2 / (ht + p.l2)
        ok = (cl >= p.min_data_in_leaf) & (cr >= p.min_data_in_leaf)
        ok &= (hl >= p.min_child_weight) & (hr >= p.min_child_weight)
        if not ok.any():
            continue
        gain = np.where(ok, gain, -np.inf)
        b = int(np.argmax(gain))
        if gain[b] > 1e-12 and (best is None or gain[b] > best.gain):
            best = _Split(float(gain[b]), owner, j, b)
    return best


class BankSecureBoostTrainer:
    """The bank's driver of a SecureBoost job over a :class:`Link` (or a runtime ``Channel``)."""

    def __init__(
        self,
        link: Link | Channel,
        *,
        job_id: str | None = None,
        params: SecureBoostParams | None = None,
        progress: Callable[[int, int], None] | None = None,
        timeout: float = 600.0,
    ) -> None:
        self.channel = link if isinstance(link, Channel) else Channel(link, timeout=timeout, retries=0)
        self.job_id = job_id or uuid.uuid4().hex
        self.params = params or SecureBoostParams()
        self._progress = progress
        self.log = BoostingLog()
        self._ctx: ts.Context | None = None
        self._platform_bins: list[int] = []

    def _call(self, kind: str, meta: dict[str, Any], blobs: list[bytes], expect: str) -> Frame:
        reply = raise_for_error(
            self.channel.call(Frame(kind=kind, job_id=self.job_id, meta=meta, blobs=blobs))
        )
        if reply.kind != expect:
            raise FederationError(f"expected {expect!r} from the platform, got {reply.kind!r}")
        return reply

    def _platform_histogram(self, rows: np.ndarray, g: np.ndarray, h: np.ndarray) -> _Histogram:
        assert self._ctx is not None
        packed = _pack_gh(g[rows], h[rows])
        blobs = [_rows_blob(rows), *encrypt_chunks(self._ctx, packed)]
        reply = self._call("sb.hist", {}, blobs, "sb.histogram")
        self.log.histogram_requests += 1
        hist = _Histogram([], [], [])
        k = 0
        for j, n_bins in enumerate(self._platform_bins):
            gj, hj, cj = np.zeros(n_bins), np.zeros(n_bins), np.zeros(n_bins)
            groups = [[int(b) for b in group] for group in reply.meta["bins"][j]]
            present = [b for group in groups for b in group]
            cj[present] = reply.meta["counts"][j]
            for group in groups:
                sums = decrypt_segments(self._ctx, reply.blobs[k], rows.size, len(group))
                for r, b in enumerate(group):
                    gj[b], hj[b] = sums[r]
                k += 1
            hist.g.append(gj)
            hist.h.append(hj)
            hist.c.append(cj)
        if k != len(reply.blobs):
            raise FederationError("sb.histogram has the wrong number of ciphertexts")
        return hist

    @staticmethod
    def _bank_histogram(
        bins: np.ndarray, sizes: list[int], rows: np.ndarray, g: np.ndarray, h: np.ndarray
    ) -> _Histogram:
        hist = _Histogram([], [], [])
        for j, n_bins in enumerate(sizes):
            b = bins[rows, j]
            hist.g.append(np.bincount(b, weights=g[rows], minlength=n_bins))
            hist.h.append(np.bincount(b, weights=h[rows], minlength=n_bins))
            hist.c.append(np.bincount(b, minlength=n_bins).astype(np.float64))
        return hist

    def fit(
        self,
        x_bank: np.ndarray,
        y: np.ndarray,
        *,
        features: Sequence[str],
        platform_features: Sequence[str],
        train_rows: np.ndarray,
        model_id: str | None = None,
    ) -> BankTreePart:
        started = time.perf_counter()
        p = self.params
        self._ctx = new_secret_context(SECUREBOOST_COEFF_MOD_BITS, SECUREBOOST_SCALE_BITS)
        ready = self._call(
            "sb.open",
            {"params": asdict(p), "platform_features": list(platform_features)},
            [public_context_bytes(self._ctx), _rows_blob(train_rows)],
            "sb.ready",
        )
        self._platform_bins = [int(b) for b in ready.meta["bins"]]
        xb = np.asarray(x_bank, dtype=np.float64)[train_rows]
        yt = np.asarray(y, dtype=np.float64)[train_rows]
        thresholds = [quantile_thresholds(xb[:, j], p.max_bin) for j in range(xb.shape[1])]
        bank_bins = np.stack([bin_feature(xb[:, j], t) for j, t in enumerate(thresholds)], axis=1)
        bank_sizes = [t.size + 1 for t in thresholds]
        prior = float(np.clip(yt.mean(), 1e-6, 1 - 1e-6))
        base = float(np.log(prior / (1 - prior)))
        raw = np.full(yt.size, base)
        trees: list[list[TreeNode]] = []
        for t in range(p.n_trees):
            prob = 1.0 / (1.0 + np.exp(-raw))
            g, h = prob - yt, prob * (1.0 - prob)
            tree = self._grow(g, h, bank_bins, bank_sizes, thresholds, features, raw)
            trees.append(tree)
            self.log.history.append({"tree": float(t), "nodes": float(len(tree))})
            if self._progress is not None:
                self._progress(t + 1, p.n_trees)
        self._call("sb.finish", {}, [], "sb.done")
        self.log.trees = p.n_trees
        self.log.seconds = time.perf_counter() - started
        return BankTreePart(
            model_id=model_id or self.job_id,
            base_score=base,
            learning_rate=p.learning_rate,
            trees=trees,
            bank_features=list(features),
        )

    def _grow(
        self,
        g: np.ndarray,
        h: np.ndarray,
        bank_bins: np.ndarray,
        bank_sizes: list[int],
        thresholds: list[np.ndarray],
        features: Sequence[str],
        raw: np.ndarray,
    ) -> list[TreeNode]:
        p = self.params
        all_rows = np.arange(g.size)
        root = _Node(0, all_rows, 0)
        root.bank_hist = self._bank_histogram(bank_bins, bank_sizes, all_rows, g, h)
        root.platform_hist = self._platform_histogram(all_rows, g, h)
        nodes: list[TreeNode] = []
        frontier = [root]
        next_id = 1

        def leaf(node: _Node) -> TreeNode:
            value = -float(g[node.rows].sum()) / (float(h[node.rows].sum()) + p.l2)
            raw[node.rows] += p.learning_rate * value
            return TreeNode(node_id=node.node_id, leaf_value=value)

        pending: dict[int, TreeNode] = {}
        while frontier:
            children: list[_Node] = []
            for node in frontier:
                assert node.bank_hist is not None and node.platform_hist is not None
                split = None
                if node.depth < p.max_depth:
                    candidates = [
                        s
                        for s in (
                            _best_split(node.bank_hist, "bank", p),
                            _best_split(node.platform_hist, "platform", p),
                        )
                        if s is not None
                    ]
                    split = max(candidates, key=lambda s: s.gain) if candidates else None
                if split is None:
                    pending[node.node_id] = leaf(node)
                    continue
                if split.owner == "bank":
                    left_mask = bank_bins[node.rows, split.feature] <= split.bin
                    tn = TreeNode(
                        node_id=node.node_id,
                        owner="bank",
                        feature=str(features[split.feature]),
                        threshold=float(thresholds[split.feature][split.bin]),
                        default_left=True,
                    )
                else:
                    reply = self._call(
                        "sb.split",
                        {"feature": split.feature, "bin": split.bin},
                        [_rows_blob(node.rows)],
                        "sb.partition",
                    )
                    bits = np.unpackbits(np.frombuffer(reply.blobs[0], dtype=np.uint8))[: node.rows.size]
                    left_mask = bits.astype(bool)
                    tn = TreeNode(
                        node_id=node.node_id, owner="platform", split_id=int(reply.meta["split_id"])
                    )
                left = _Node(next_id, node.rows[left_mask], node.depth + 1)
                right = _Node(next_id + 1, node.rows[~left_mask], node.depth + 1)
                tn.left, tn.right = next_id, next_id + 1
                next_id += 2
                pending[node.node_id] = tn
                small, large = (left, right) if left.rows.size <= right.rows.size else (right, left)
                needs_children = node.depth + 1 < p.max_depth
                if needs_children:
                    small.bank_hist = self._bank_histogram(bank_bins, bank_sizes, small.rows, g, h)
                    small.platform_hist = self._platform_histogram(small.rows, g, h)
                    large.bank_hist = node.bank_hist.minus(small.bank_hist)
                    large.platform_hist = node.platform_hist.minus(small.platform_hist)
                else:
                    empty = _Histogram([], [], [])
                    small.bank_hist = small.platform_hist = empty
                    large.bank_hist = large.platform_hist = empty
                children.extend([left, right])
            frontier = children
        nodes = [pending[i] for i in range(next_id)]
        return nodes

    def platform_directions(self, rows: np.ndarray) -> list[np.ndarray]:
        reply = self._call("sb.route", {}, [_rows_blob(rows)], "sb.directions")
        return [
            np.unpackbits(np.frombuffer(b, dtype=np.uint8))[: rows.size].astype(bool) for b in reply.blobs
        ]

    def joint_scores(self, part: BankTreePart, x_bank: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Raw joint scores of held-out ``rows``; the platform reveals its split directions for them."""
        directions = self.platform_directions(rows)
        return tree_scores(part, np.asarray(x_bank, dtype=np.float64)[rows], directions)


def tree_scores(part: BankTreePart, x: np.ndarray, platform_left: Sequence[np.ndarray] | None) -> np.ndarray:
    """Raw scores; ``platform_left[split_id]`` is the left-going mask of the rows at that platform split.

    With ``platform_left=None`` a platform split sends every row down both sides weighted by the
    training share (never used here); bank-only models have no platform split.
    """
    index = {f: j for j, f in enumerate(part.bank_features)}
    n = x.shape[0]
    out = np.full(n, part.base_score)
    for tree in part.trees:
        node_of = np.zeros(n, dtype=np.int64)
        for _ in range(len(tree)):
            moved = False
            for nid in np.unique(node_of):
                node = tree[nid]
                if node.leaf_value is not None:
                    continue
                sel = node_of == nid
                if node.owner == "bank":
                    assert node.feature is not None and node.threshold is not None
                    v = x[sel, index[node.feature]]
                    go_left = np.where(np.isnan(v), node.default_left, v <= node.threshold)
                else:
                    if platform_left is None or node.split_id is None:
                        raise FederationError("a platform split needs the platform's directions")
                    go_left = platform_left[node.split_id][sel]
                assert node.left is not None and node.right is not None
                node_of[sel] = np.where(go_left, node.left, node.right)
                moved = True
            if not moved:
                break
        out += part.learning_rate * np.array([tree[i].leaf_value or 0.0 for i in node_of])
    return out
