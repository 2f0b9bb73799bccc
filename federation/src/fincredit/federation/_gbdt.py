"""LightGBM's gradient-boosted trees, re-implemented on histograms so that one party's histograms may be
encrypted sums that another party computed.

Everything that decides a tree lives here, in the clear, with LightGBM's names and LightGBM's arithmetic
(``src/io/bin.cpp``, ``src/treelearner/feature_histogram.hpp``, ``serial_tree_learner.cpp``, ``goss.hpp``),
so that a federated model grows LightGBM's trees:

- bins: LightGBM's ``GreedyFindBin`` with zero in a bin of its own; a feature with missing values in
  the training rows gets a last bin for them (``MissingType::NaN``) and its other bins come from
  ``max_bin - 1``;
- split finding: the reverse scan (missing values go left) and, for a feature with a missing bin, the
  forward scan (missing go right), each taking the first best threshold in its scan order; row counts
  are *estimated from the hessians* as LightGBM estimates them (``RoundInt(h · n / H)``), and both
  hessian sums carry LightGBM's ``kEpsilon``;
- leaf-wise growth (best leaf first, ties to the lowest leaf index, ``num_leaves``, ``max_depth``); the
  smaller child's histogram is built, its sibling is the parent minus it;
- gradients of the logistic loss rounded to float32 as LightGBM stores them (``score_t``);
- leaf output ``-G/(H+lambda_l2)``; a missing value at prediction for a feature that had none in training
  is treated as zero (so ``default_left`` is the side zero goes to).

- quantized training (``use_quantized_grad``): LightGBM's ``GradientDiscretizer``: per iteration the
  gradients become integers in ``[-num_grad_quant_bins/2, num_grad_quant_bins/2]`` and the hessians in
  ``[0, num_grad_quant_bins]`` (scales ``max|g| / (bins/2)`` and ``max h / bins``, stochastic rounding by
  default); splits are found on the integer histograms times the scales, and with
  ``quant_train_renew_leaf`` each leaf's output is computed again from the float gradients of its rows.

What is not LightGBM's: the random draws. Bagging, GOSS and ``feature_fraction`` follow LightGBM's rules
(the same fractions, GOSS's top/other split, its amplification and its warm-up of ``1/learning_rate``
iterations) but draw with numpy's generator, not LightGBM's LCG, so with sampling on the federated and
the centralized trees are equal in distribution, not row for row. The same holds for the stochastic
rounding of quantized gradients.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import InitVar, dataclass, field
from typing import Literal, Protocol

import numpy as np

__all__ = [
    "KEPSILON",
    "BinLayout",
    "FeatureBins",
    "GrownTree",
    "HistogramSource",
    "Quantized",
    "SecureBoostParams",
    "SplitInfo",
    "bin_columns",
    "bin_feature",
    "find_bins",
    "find_categorical_bins",
    "grow_tree",
    "logistic_gradients",
    "quantile_thresholds",
    "quantize_gradients",
]

KEPSILON = float(np.float32(1e-15))  # LightGBM's kEpsilon is the float literal 1e-15f
_ZERO = float(np.float32(1e-35))  # LightGBM's kZeroThreshold: zero always gets a bin of its own


@dataclass(slots=True)
class SecureBoostParams:
    """LightGBM's parameters under LightGBM's names (binary objective, depth-wise limits, sampling).

    ``n_trees``, ``l2`` and ``min_child_weight`` are accepted as the older spellings of
    ``num_iterations``, ``lambda_l2`` and ``min_sum_hessian_in_leaf``.
    """

    num_iterations: int = 100
    learning_rate: float = 0.1
    num_leaves: int = 31
    max_depth: int = -1
    max_bin: int = 255
    min_data_in_bin: int = 3
    lambda_l2: float = 0.0
    min_data_in_leaf: int = 20
    min_sum_hessian_in_leaf: float = 1e-3
    min_gain_to_split: float = 0.0
    bagging_fraction: float = 1.0
    bagging_freq: int = 0
    bagging_seed: int = 3
    data_sample_strategy: Literal["bagging", "goss"] = "bagging"
    top_rate: float = 0.2
    other_rate: float = 0.1
    feature_fraction: float = 1.0
    feature_fraction_seed: int = 2
    early_stopping_round: int = 0
    use_quantized_grad: bool = False
    num_grad_quant_bins: int = 4
    quant_train_renew_leaf: bool = False
    stochastic_rounding: bool = True
    categorical_feature: list[str] = field(default_factory=list)
    max_cat_to_onehot: int = 4
    max_cat_threshold: int = 32
    cat_l2: float = 10.0
    cat_smooth: float = 10.0
    min_data_per_group: int = 100
    n_trees: InitVar[int | None] = None
    l2: InitVar[float | None] = None
    min_child_weight: InitVar[float | None] = None

    def __post_init__(self, n_trees: int | None, l2: float | None, min_child_weight: float | None) -> None:
        if n_trees is not None:
            self.num_iterations = n_trees
        if l2 is not None:
            self.lambda_l2 = l2
        if min_child_weight is not None:
            self.min_sum_hessian_in_leaf = min_child_weight
        if self.num_iterations < 1 or self.num_leaves < 2 or not 1 < self.max_bin <= 1024:
            raise ValueError("num_iterations >= 1, num_leaves >= 2 and 1 < max_bin <= 1024 are required")
        if not 0.0 < self.bagging_fraction <= 1.0 or not 0.0 < self.feature_fraction <= 1.0:
            raise ValueError("bagging_fraction and feature_fraction must be in (0, 1]")
        if self.data_sample_strategy not in ("bagging", "goss"):
            raise ValueError("data_sample_strategy is 'bagging' or 'goss'")
        if self.data_sample_strategy == "goss" and not (
            self.top_rate > 0.0 and self.other_rate > 0.0 and self.top_rate + self.other_rate <= 1.0
        ):
            raise ValueError("GOSS needs top_rate > 0, other_rate > 0 and top_rate + other_rate <= 1")
        if self.use_quantized_grad and not 2 <= self.num_grad_quant_bins <= 64:
            raise ValueError("num_grad_quant_bins must be between 2 and 64")
        if not isinstance(self.categorical_feature, list) or not all(
            isinstance(name, str) for name in self.categorical_feature
        ):
            raise ValueError("categorical_feature is a list of column names")
        if self.max_cat_threshold < 1 or self.max_cat_to_onehot < 1 or self.min_data_per_group < 1:
            raise ValueError("max_cat_threshold, max_cat_to_onehot and min_data_per_group must be at least 1")
        if self.cat_l2 < 0.0 or self.cat_smooth < 0.0:
            raise ValueError("cat_l2 and cat_smooth must not be negative")

    @property
    def max_leaves(self) -> int:
        """Leaves a tree can reach under both limits."""
        if self.max_depth > 0:
            return min(self.num_leaves, int(2**self.max_depth))
        return self.num_leaves


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


def _distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and counts, where LightGBM counts values one ulp apart as one (keeping the
    larger): computed columns (ratios, averages) carry such near-duplicates."""
    distinct, counts = np.unique(values, return_counts=True)
    if distinct.size < 2:
        return distinct, counts
    same = distinct[1:] <= np.nextafter(distinct[:-1], np.inf)
    if not same.any():
        return distinct, counts
    group = np.concatenate([[0], np.cumsum(~same)])
    last = np.concatenate([np.flatnonzero(np.diff(group)), [group.size - 1]])
    return distinct[last], np.bincount(group, weights=counts).astype(np.int64)


def quantile_thresholds(values: np.ndarray, max_bin: int, min_data_in_bin: int = 3) -> np.ndarray:
    """Cut points of the finite values (go left when ``value <= t``) chosen as LightGBM chooses its bins.

    Zero gets a bin of its own; negative and positive values share the other bins in proportion to
    their counts; within each side, every distinct value is its own bin when they are few (merging
    values seen fewer than ``min_data_in_bin`` times), otherwise frequent values get their own bin
    and the rest are cut into bins of near-equal counts. Missing values are ignored here (see
    :func:`find_bins`).
    """
    finite = values[~np.isnan(values)]
    distinct, counts = _distinct(finite)
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
        # LightGBM opens the positive side with the zero bound even when no value is zero or below:
        # an empty bin 0 that keeps its bin numbers (and so its most-frequent-bin bookkeeping) ours.
        bounds.append(_ZERO)
        bounds += _greedy_bounds(distinct[positive], counts[positive], right_bins, min_data_in_bin)
    return np.asarray(sorted(set(bounds)), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class BinLayout:
    """What the split finder needs to know of a feature's bins (the owner keeps the thresholds, or the
    categories)."""

    n_bins: int
    has_nan: bool = False
    most_freq_bin: int = 0
    categorical: bool = False


@dataclass(slots=True)
class FeatureBins:
    """One feature's bins.

    Numerical: finite cut points, then (when the training rows had missing values) a last bin for them,
    as LightGBM's ``MissingType::NaN``. Categorical (``categories`` set): bin 0 holds missing values,
    negative codes and the categories too rare to get a bin; bin ``k >= 1`` holds ``categories[k - 1]``.
    """

    thresholds: np.ndarray
    has_nan: bool = False
    most_freq_bin: int = 0
    categories: np.ndarray | None = None

    @property
    def categorical(self) -> bool:
        return self.categories is not None

    @property
    def layout(self) -> BinLayout:
        return BinLayout(self.n_bins, self.has_nan, self.most_freq_bin, self.categorical)

    @property
    def n_bins(self) -> int:
        if self.categories is not None:
            return int(self.categories.size) + 1
        return int(self.thresholds.size) + 1 + int(self.has_nan)

    @property
    def nan_bin(self) -> int:
        if self.categories is not None:
            return 0
        return self.n_bins - 1 if self.has_nan else -1

    def bins(self, values: np.ndarray) -> np.ndarray:
        """Bin per row. A missing value goes to the missing bin, or, for a numerical feature that had no
        missing value in training, wherever zero goes (LightGBM reads it as 0 then). A categorical value
        is truncated to an integer code (LightGBM's cast); codes without a bin go to bin 0."""
        missing = np.isnan(values)
        if self.categories is not None:
            codes = np.trunc(np.where(missing, -1.0, values))
            if not self.categories.size:
                return np.zeros(values.size, dtype=np.int32)
            order = np.argsort(self.categories, kind="stable")
            at = np.minimum(np.searchsorted(self.categories[order], codes), order.size - 1)
            found = (self.categories[order][at] == codes) & (codes >= 0)
            return np.where(found, order[at] + 1, 0).astype(np.int32)
        out = np.searchsorted(self.thresholds, np.where(missing, 0.0, values), side="left")
        if self.has_nan:
            out[missing] = self.nan_bin
        return out.astype(np.int32)

    def default_left(self, bin_index: int) -> bool:
        """Where a missing value goes at a split after ``bin_index`` on a feature without a missing bin."""
        return bool(self.threshold(bin_index) >= 0.0)

    def threshold(self, bin_index: int) -> float:
        return float(self.thresholds[bin_index]) if bin_index < self.thresholds.size else math.inf

    def category_set(self, cat_bins: Sequence[int]) -> list[int]:
        """The category codes of bins ``cat_bins`` (a categorical split's left side), sorted."""
        assert self.categories is not None
        return sorted(int(self.categories[b - 1]) for b in cat_bins)


_SPARSE_THRESHOLD = 0.7  # LightGBM's kSparseThreshold


def _most_freq_bin(fb: FeatureBins, counts: np.ndarray, n_rows: int) -> int:
    """LightGBM's most frequent bin, replaced by zero's bin unless it holds ``kSparseThreshold`` of rows."""
    most = int(np.argmax(counts))
    default_bin = int(fb.bins(np.zeros(1))[0])
    if most != default_bin and counts[most] / max(n_rows, 1) < _SPARSE_THRESHOLD:
        most = default_bin
    return most


def find_bins(values: np.ndarray, max_bin: int, min_data_in_bin: int = 3) -> FeatureBins:
    """LightGBM's ``BinMapper::FindBin`` for a numerical feature, with its most frequent bin (which
    decides how LightGBM's forward scan adds up the left side)."""
    has_nan = bool(np.isnan(values).any())
    fb = FeatureBins(quantile_thresholds(values, max_bin - int(has_nan), min_data_in_bin), has_nan)
    fb.most_freq_bin = _most_freq_bin(fb, np.bincount(fb.bins(values), minlength=fb.n_bins), values.size)
    return fb


def find_categorical_bins(values: np.ndarray, max_bin: int, min_data_in_bin: int = 3) -> FeatureBins:
    """LightGBM's ``BinMapper::FindBin`` for a categorical feature: codes are truncated to integers
    (negative ones count as missing); categories get bins 1, 2, ... by decreasing count (ties by code)
    until 99% of the non-missing rows are covered and ``max_bin`` is reached, stopping early at a
    category seen fewer than ``min_data_in_bin`` times; bin 0 holds the rest."""
    finite = values[~np.isnan(values)]
    distinct, counts = _distinct(finite)
    codes = np.trunc(distinct).astype(np.int64)
    keep = codes >= 0
    na_cnt = int(values.size - finite.size + counts[~keep].sum())
    codes, counts = codes[keep], counts[keep].astype(np.int64)
    if codes.size:  # values one apart after truncation (1.0, 1.5) are one category
        codes, inverse = np.unique(codes, return_inverse=True)
        counts = np.bincount(inverse, weights=counts).astype(np.int64)
    chosen: list[int] = []
    rest = values.size - na_cnt
    if rest > 0:
        by_count = np.argsort(-counts, kind="stable")
        cut_cnt = int(float(np.float32(rest) * np.float32(0.99)) + 0.5)
        limit = min(codes.size + int(na_cnt > 0), max_bin)
        used, n_bins = 0, 1
        for k, i in enumerate(by_count):
            if not (used < cut_cnt or n_bins < limit):
                break
            if counts[i] < min_data_in_bin and k > 1:
                break
            chosen.append(int(codes[i]))
            used += int(counts[i])
            n_bins += 1
    fb = FeatureBins(
        np.zeros(0),
        has_nan=len(chosen) < codes.size or na_cnt > 0,
        categories=np.asarray(chosen, dtype=np.int64),
    )
    fb.most_freq_bin = _most_freq_bin(fb, np.bincount(fb.bins(values), minlength=fb.n_bins), values.size)
    return fb


def bin_columns(x: np.ndarray, names: Sequence[str], p: SecureBoostParams) -> list[FeatureBins]:
    """Each column's bins: categorical for the names in ``p.categorical_feature``, numerical otherwise."""
    categorical = set(p.categorical_feature)
    return [
        (find_categorical_bins if name in categorical else find_bins)(x[:, j], p.max_bin, p.min_data_in_bin)
        for j, name in enumerate(names)
    ]


def bin_feature(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Bin index per row for cut points without a missing bin (a missing value is read as zero)."""
    return FeatureBins(thresholds).bins(values)


def logistic_gradients(raw: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Logistic-loss gradient and hessian, rounded to float32 as LightGBM stores them."""
    p = 1.0 / (1.0 + np.exp(-raw))
    g = (p - y).astype(np.float32).astype(np.float64)
    h = (p * (1.0 - p)).astype(np.float32).astype(np.float64)
    return g, h


@dataclass(frozen=True, slots=True)
class Quantized:
    """One iteration's gradients as LightGBM's quantized training holds them: integers and scales."""

    g: np.ndarray  # int64, |g| <= num_grad_quant_bins / 2
    h: np.ndarray  # int64, 0 <= h <= num_grad_quant_bins
    g_scale: float
    h_scale: float

    def dequantized(self) -> tuple[np.ndarray, np.ndarray]:
        return self.g * self.g_scale, self.h * self.h_scale


def quantize_gradients(
    g: np.ndarray, h: np.ndarray, rows: np.ndarray, p: SecureBoostParams, rng: np.random.Generator
) -> Quantized:
    """LightGBM's ``GradientDiscretizer::DiscretizeGradients`` over ``rows`` (the others get zero)."""
    bins = p.num_grad_quant_bins
    max_g = float(np.abs(g[rows]).max()) if rows.size else 0.0
    max_h = float(h[rows].max()) if rows.size else 0.0
    g_scale = max_g / (bins // 2) if max_g > 0 else 1.0
    h_scale = max_h / bins if max_h > 0 else 1.0
    gi = np.zeros(g.size, dtype=np.int64)
    hi = np.zeros(h.size, dtype=np.int64)
    if p.stochastic_rounding:
        rg, rh = rng.random(rows.size), rng.random(rows.size)
    else:
        rg = rh = np.full(rows.size, 0.5)
    gs = g[rows] / g_scale
    gi[rows] = np.trunc(np.where(gs >= 0, gs + rg, gs - rg)).astype(np.int64)
    hi[rows] = np.trunc(h[rows] / h_scale + rh).astype(np.int64)
    return Quantized(gi, hi, g_scale, h_scale)


@dataclass(slots=True)
class SplitInfo:
    gain: float
    feature: int
    bin: int  # left when bin <= this (the missing bin aside)
    default_left: bool
    left_g: float
    left_h: float
    left_count: int
    right_g: float
    right_h: float
    right_count: int
    raw_gain: float = 0.0  # before subtracting the parent's gain (LightGBM compares scans on it)
    cat_bins: tuple[int, ...] = ()  # a categorical split: the bins that go left (``bin`` is then -1)
    leaf_l2: float | None = None  # the L2 of the children's outputs when not lambda_l2 (cat_l2 added)


def _round_int(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5).astype(np.int64)


def _leaf_gain(g: np.ndarray | float, h: np.ndarray | float, l2: float) -> np.ndarray | float:
    with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 on empty bins is NaN, as in LightGBM
        return g * g / (h + l2)


def best_feature_split(
    g: np.ndarray,
    h: np.ndarray,
    has_nan: bool,
    sum_g: float,
    sum_h: float,
    num_data: int,
    p: SecureBoostParams,
    feature: int = 0,
    most_freq_bin: int = -1,
) -> SplitInfo | None:
    """LightGBM's ``FindBestThreshold`` for one numerical feature of a leaf (histogram ``g``, ``h``)."""
    n_bins = g.size
    if n_bins < 2:
        return None
    sum_h = sum_h + 2 * KEPSILON
    cnt_factor = num_data / sum_h
    min_gain_shift = float(_leaf_gain(sum_g, sum_h, p.lambda_l2)) + p.min_gain_to_split
    counts = _round_int(h * cnt_factor)
    best: SplitInfo | None = None
    na = int(has_nan and n_bins > 2)
    # reverse scan: t from the last non-missing bin down to 1, right = bins t.., threshold t - 1
    top = n_bins - 1 - na
    if top >= 1:
        idx = np.arange(top, 0, -1)
        right_g = np.cumsum(g[idx])
        right_h = np.cumsum(np.concatenate([[KEPSILON], h[idx]]))[1:]
        right_c = np.cumsum(counts[idx])
        left_c = num_data - right_c
        left_h = sum_h - right_h
        left_g = sum_g - right_g
        best = _pick(
            idx - 1,
            left_g,
            left_h,
            left_c,
            right_g,
            right_h,
            right_c,
            min_gain_shift,
            p,
            feature,
            True,
            sum_g,
            sum_h,
        )
    if na:
        # forward scan: left = bins 0..t, the missing bin always right. When bin 0 is the most frequent
        # bin LightGBM keeps no histogram entry for it and starts from the total minus every other bin.
        idx = np.arange(0, n_bins - 1)
        if most_freq_bin == 0:
            g0 = float(np.subtract.accumulate(np.concatenate([[sum_g], g[1:]]))[-1])
            h0 = float(np.subtract.accumulate(np.concatenate([[sum_h - KEPSILON], h[1:]]))[-1])
            c0 = num_data - int(counts[1:].sum())
            left_g = np.add.accumulate(np.concatenate([[g0], g[1 : n_bins - 1]]))
            left_h = np.add.accumulate(np.concatenate([[h0], h[1 : n_bins - 1]]))
            left_c = c0 + np.concatenate([[0], np.cumsum(counts[1 : n_bins - 1])])
        else:
            left_g = np.cumsum(g[idx])
            left_h = np.cumsum(np.concatenate([[KEPSILON], h[idx]]))[1:]
            left_c = np.cumsum(counts[idx])
        right_c = num_data - left_c
        right_h = sum_h - left_h
        right_g = sum_g - left_g
        forward = _pick(
            idx,
            left_g,
            left_h,
            left_c,
            right_g,
            right_h,
            right_c,
            min_gain_shift,
            p,
            feature,
            False,
            sum_g,
            sum_h,
        )
        # LightGBM keeps the reverse scan's split unless the forward one beats its stored gain + shift
        if forward is not None and (best is None or forward.raw_gain > best.gain + min_gain_shift):
            best = forward
    elif has_nan and best is not None:
        best.default_left = False  # one finite bin and the missing bin: missing goes right
    return best


def _pick(
    thresholds: np.ndarray,
    left_g: np.ndarray,
    left_h: np.ndarray,
    left_c: np.ndarray,
    right_g: np.ndarray,
    right_h: np.ndarray,
    right_c: np.ndarray,
    min_gain_shift: float,
    p: SecureBoostParams,
    feature: int,
    default_left: bool,
    sum_g: float,
    sum_h: float,
) -> SplitInfo | None:
    md, mh = p.min_data_in_leaf, p.min_sum_hessian_in_leaf
    # LightGBM stops its scan once the shrinking side is too small: both are monotone, so a mask is the same
    ok = (right_c >= md) & (right_h >= mh) & (left_c >= md) & (left_h >= mh)
    gain = _leaf_gain(left_g, left_h, p.lambda_l2) + _leaf_gain(right_g, right_h, p.lambda_l2)
    assert isinstance(gain, np.ndarray)
    ok &= gain > min_gain_shift
    if not ok.any():
        return None
    gain = np.where(ok, gain, -np.inf)
    k = int(np.argmax(gain))  # the first best in scan order, as LightGBM's strict '>' keeps it
    return SplitInfo(
        gain=float(gain[k] - min_gain_shift),
        feature=feature,
        bin=int(thresholds[k]),
        default_left=default_left,
        left_g=float(left_g[k]),
        left_h=float(left_h[k] - KEPSILON),
        left_count=int(left_c[k]),
        # LightGBM's outputs: the right side is the total minus the left side, whichever side the scan
        # added up (``sum_h`` carries 2 kEpsilon, the left side one)
        right_g=float(sum_g - left_g[k]),
        right_h=float(sum_h - left_h[k] - KEPSILON),
        right_count=int(right_c[k]),
        raw_gain=float(gain[k]),
    )


def best_categorical_split(
    g: np.ndarray,
    h: np.ndarray,
    sum_g: float,
    sum_h: float,
    num_data: int,
    p: SecureBoostParams,
    feature: int = 0,
) -> SplitInfo | None:
    """LightGBM's ``FindBestThresholdCategoricalInner`` for one categorical feature of a leaf.

    Bin 0 (missing values, negative and rare codes) always goes right. With at most
    ``max_cat_to_onehot`` bins, one category goes left against the rest; otherwise the bins holding at
    least ``cat_smooth`` rows are sorted by ``G / (H + cat_smooth)`` and the left side is the first
    ``k`` of that order from either end (``k <= max_cat_threshold``, at most half of them, in steps of at
    least ``min_data_per_group`` rows), with ``cat_l2`` added to ``lambda_l2`` for the gains and the
    children's outputs (not for the parent's gain the split must beat).
    """
    n_bins = g.size
    if n_bins < 2:
        return None
    sum_h = sum_h + 2 * KEPSILON
    cnt_factor = num_data / sum_h
    min_gain_shift = float(_leaf_gain(sum_g, sum_h, p.lambda_l2)) + p.min_gain_to_split
    md, mh = p.min_data_in_leaf, p.min_sum_hessian_in_leaf
    best: tuple[float, float, float, int, tuple[int, ...]] | None = None  # gain, left g, left h, count, bins
    l2 = p.lambda_l2
    if n_bins <= p.max_cat_to_onehot:
        for t in range(1, n_bins):
            gt, ht = float(g[t]), float(h[t])
            cnt = math.floor(ht * cnt_factor + 0.5)
            if cnt < md or ht < mh or num_data - cnt < md:
                continue
            other_h = sum_h - ht - KEPSILON
            if other_h < mh:
                continue
            gain = float(_leaf_gain(sum_g - gt, other_h, l2)) + float(_leaf_gain(gt, ht + KEPSILON, l2))
            if gain > min_gain_shift and (best is None or gain > best[0]):
                best = (gain, gt, ht + KEPSILON, cnt, (t,))
    else:
        l2 += p.cat_l2
        used = [t for t in range(1, n_bins) if math.floor(float(h[t]) * cnt_factor + 0.5) >= p.cat_smooth]
        # numpy's stable sort on the same keys is std::stable_sort's order
        ctr = np.asarray([g[t] / (h[t] + p.cat_smooth) for t in used], dtype=np.float64)
        order = [used[k] for k in np.argsort(ctr, kind="stable")]
        max_num_cat = min(p.max_cat_threshold, (len(order) + 1) // 2)
        for direction in (order, order[::-1]):
            left_g, left_h, left_c, group = 0.0, KEPSILON, 0, 0
            for i, t in enumerate(direction[:max_num_cat]):
                cnt = math.floor(float(h[t]) * cnt_factor + 0.5)
                left_g += float(g[t])
                left_h += float(h[t])
                left_c += cnt
                group += cnt
                if left_c < md or left_h < mh:
                    continue
                right_c = num_data - left_c
                if right_c < md or right_c < p.min_data_per_group:
                    break
                right_h = sum_h - left_h
                if right_h < mh:
                    break
                if group < p.min_data_per_group:
                    continue
                group = 0
                gain = float(_leaf_gain(left_g, left_h, l2)) + float(_leaf_gain(sum_g - left_g, right_h, l2))
                if gain > min_gain_shift and (best is None or gain > best[0]):
                    best = (gain, left_g, left_h, left_c, tuple(direction[: i + 1]))
    if best is None:
        return None
    gain, left_g, left_h, left_c, cat_bins = best
    return SplitInfo(
        gain=gain - min_gain_shift,
        feature=feature,
        bin=-1,
        default_left=False,
        left_g=left_g,
        left_h=left_h - KEPSILON,
        left_count=left_c,
        right_g=sum_g - left_g,
        right_h=sum_h - left_h - KEPSILON,
        right_count=num_data - left_c,
        raw_gain=gain,
        cat_bins=cat_bins,
        leaf_l2=l2,
    )


Histograms = list[tuple[np.ndarray, np.ndarray]]  # per feature: (sum g, sum h) per bin


class HistogramSource(Protocol):
    """What the tree learner needs from the parties: histograms of a row set, and partitions."""

    def histograms(
        self,
        rows: np.ndarray,
        g: np.ndarray,
        h: np.ndarray,
        features: np.ndarray,
        quant: Quantized | None = None,
    ) -> Histograms:
        """(G, H) per bin for every feature (an unused feature, ``features[j]`` False, may be empty).
        With ``quant`` (quantized training) ``g``, ``h`` are its dequantized values and the sums are
        integer sums times the scales."""
        ...

    def partition(
        self, split: SplitInfo, rows: np.ndarray, valid: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, object]:
        """Left masks of ``rows`` (training positions) and ``valid`` (validation positions), and the
        tree node content that records the split."""
        ...


@dataclass(slots=True)
class _Leaf:
    index: int
    node_id: int
    rows: np.ndarray
    bag: np.ndarray
    valid: np.ndarray
    depth: int
    sum_g: float
    sum_h: float
    hist: Histograms | None = None
    split: SplitInfo | None = None
    splittable: np.ndarray | None = None
    l2: float | None = None  # the L2 of this leaf's output, when its parent's split was not lambda_l2


@dataclass(slots=True)
class GrownTree:
    """Nodes by id: ``("split", content, left_id, right_id)`` or ``("leaf", value)``; per leaf its rows."""

    nodes: dict[int, tuple[object, ...]] = field(default_factory=dict)
    leaf_rows: list[tuple[float, np.ndarray, np.ndarray]] = field(default_factory=list)
    splits: list[SplitInfo] = field(default_factory=list)


def _best_of(
    hist: Histograms,
    layouts: Sequence[BinLayout],
    features: np.ndarray,
    sum_g: float,
    sum_h: float,
    num_data: int,
    p: SecureBoostParams,
) -> tuple[SplitInfo | None, np.ndarray]:
    """The leaf's best split, and which features had any valid split (LightGBM's ``is_splittable``:
    a feature without one is not looked at again in the leaf's descendants)."""
    best: SplitInfo | None = None
    splittable = np.zeros(len(hist), dtype=bool)
    for j, (g, h) in enumerate(hist):
        if not features[j]:
            continue
        lay = layouts[j]
        if lay.categorical:
            s = best_categorical_split(g, h, sum_g, sum_h, num_data, p, j)
        else:
            s = best_feature_split(g, h, lay.has_nan, sum_g, sum_h, num_data, p, j, lay.most_freq_bin)
        splittable[j] = s is not None
        if s is not None and (best is None or s.gain > best.gain):  # ties: the lower feature index
            best = s
    return best, splittable


def _fix_histograms(hist: Histograms, layouts: Sequence[BinLayout], sum_g: float, sum_h: float) -> Histograms:
    """LightGBM's ``FixHistogram``: the most frequent bin's entry is the leaf's total minus the other bins
    (LightGBM never accumulates that bin), subtracted one bin at a time in bin order."""
    for (g, h), lay in zip(hist, layouts, strict=True):
        b = lay.most_freq_bin
        if b > 0 and g.size:
            others = np.flatnonzero(np.arange(g.size) != b)
            g[b] = np.subtract.accumulate(np.concatenate([[sum_g], g[others]]))[-1]
            h[b] = np.subtract.accumulate(np.concatenate([[sum_h], h[others]]))[-1]
    return hist


def grow_tree(
    source: HistogramSource,
    g: np.ndarray,
    h: np.ndarray,
    bag: np.ndarray,
    valid_rows: np.ndarray,
    layouts: Sequence[BinLayout],
    features: np.ndarray,
    p: SecureBoostParams,
    quant: Quantized | None = None,
) -> GrownTree:
    """One tree, leaf-wise as LightGBM's serial learner grows it. ``bag`` selects the rows whose
    gradients build the histograms (bagging, GOSS); every training row is routed to its leaf. With
    ``quant`` the splits are found on the quantized gradients and ``g``, ``h`` serve only to renew the
    leaf outputs (``quant_train_renew_leaf``)."""
    all_rows = np.arange(g.size)
    bag_rows = all_rows[bag]
    float_g, float_h = g, h
    if quant is not None:
        g, h = quant.dequantized()
        sum_g = float(quant.g[bag_rows].sum()) * quant.g_scale
        sum_h = float(quant.h[bag_rows].sum()) * quant.h_scale
    else:
        sum_g = float(np.add.accumulate(g[bag_rows])[-1]) if bag_rows.size else 0.0
        sum_h = float(np.add.accumulate(h[bag_rows])[-1]) if bag_rows.size else 0.0
    root = _Leaf(0, 0, all_rows, bag, valid_rows, 0, sum_g, sum_h)
    out = GrownTree()
    if bag_rows.size >= 2 * p.min_data_in_leaf:
        root.hist = _fix_histograms(source.histograms(bag_rows, g, h, features, quant), layouts, sum_g, sum_h)
        root.split, root.splittable = _best_of(
            root.hist, layouts, features, sum_g, sum_h, int(bag_rows.size), p
        )
    leaves = [root]
    next_id = 1
    while len(leaves) < p.num_leaves:
        candidates = [leaf for leaf in leaves if leaf.split is not None]
        if not candidates:
            break
        best = max(candidates, key=lambda leaf: (leaf.split.gain, -leaf.index))  # type: ignore[union-attr]
        split = best.split
        assert split is not None
        if split.gain <= 0.0:
            break
        left_mask, valid_left, content = source.partition(split, best.rows, best.valid)
        out.splits.append(split)
        out.nodes[best.node_id] = ("split", content, next_id, next_id + 1)
        depth = best.depth + 1
        left = _Leaf(
            best.index,
            next_id,
            best.rows[left_mask],
            best.bag[left_mask],
            best.valid[valid_left],
            depth,
            split.left_g,
            split.left_h,
            l2=split.leaf_l2,
        )
        right = _Leaf(
            len(leaves),
            next_id + 1,
            best.rows[~left_mask],
            best.bag[~left_mask],
            best.valid[~valid_left],
            depth,
            split.right_g,
            split.right_h,
            l2=split.leaf_l2,
        )
        next_id += 2
        leaves[best.index] = left
        leaves.append(right)
        n_left, n_right = int(left.bag.sum()), int(right.bag.sum())
        deep = p.max_depth > 0 and depth >= p.max_depth
        small = n_left < 2 * p.min_data_in_leaf and n_right < 2 * p.min_data_in_leaf
        if deep or small or best.hist is None or best.splittable is None:
            continue
        usable = best.splittable
        smaller, larger = (left, right) if n_left < n_right else (right, left)
        if min(n_left, n_right) < p.min_data_in_leaf:
            # Counts estimated from hessians let a child fall under min_data_in_leaf rows; the platform
            # serves no histogram that small, so the larger child is built and the smaller subtracted
            # (the same numbers up to rounding).
            smaller, larger = larger, smaller
        smaller.hist = _fix_histograms(
            source.histograms(smaller.rows[smaller.bag], g, h, usable, quant),
            layouts,
            smaller.sum_g,
            smaller.sum_h,
        )
        larger.hist = [
            (pg - sg, ph - sh) if use else (np.zeros(0), np.zeros(0))
            for (pg, ph), (sg, sh), use in zip(best.hist, smaller.hist, usable, strict=True)
        ]
        for child, n in ((left, n_left), (right, n_right)):
            assert child.hist is not None
            child.split, child.splittable = _best_of(
                child.hist, layouts, usable, child.sum_g, child.sum_h, n, p
            )
    renew = quant is not None and p.quant_train_renew_leaf
    for leaf in leaves:
        sum_g, sum_h = leaf.sum_g, leaf.sum_h
        l2 = p.lambda_l2 if leaf.l2 is None else leaf.l2
        if renew:  # LightGBM renews every leaf with lambda_l2, whichever split made it
            in_bag = leaf.rows[leaf.bag]
            sum_g, sum_h, l2 = float(float_g[in_bag].sum()), float(float_h[in_bag].sum()), p.lambda_l2
        value = -sum_g / (sum_h + KEPSILON + l2) if leaf.bag.any() else 0.0
        out.nodes[leaf.node_id] = ("leaf", value)
        out.leaf_rows.append((value, leaf.rows, leaf.valid))
    return out


class Sampler:
    """Per iteration: which rows build the histograms (bagging or GOSS, with GOSS's amplified
    gradients) and which features a tree may use (``feature_fraction``)."""

    def __init__(self, p: SecureBoostParams, n_rows: int, n_features: int) -> None:
        self.p = p
        self.n_rows = n_rows
        self.n_features = n_features
        self._bag_rng = np.random.default_rng(p.bagging_seed)
        self._feature_rng = np.random.default_rng(p.feature_fraction_seed)
        self._bag = np.ones(n_rows, dtype=bool)

    def rows(self, iteration: int, g: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(in-bag mask, g, h), the last two amplified for GOSS's sampled small-gradient rows."""
        p = self.p
        if p.data_sample_strategy == "goss":
            if iteration < int(1.0 / p.learning_rate):
                return np.ones(self.n_rows, dtype=bool), g, h
            weight = np.abs(g * h)
            top_k = max(1, int(self.n_rows * p.top_rate))
            other_k = int(self.n_rows * p.other_rate)
            threshold = np.partition(weight, self.n_rows - top_k)[self.n_rows - top_k]
            top = weight >= threshold
            rest = np.flatnonzero(~top)
            chosen = self._bag_rng.choice(rest, size=min(other_k, rest.size), replace=False)
            bag = top.copy()
            bag[chosen] = True
            multiply = np.float32((self.n_rows - top_k) / max(other_k, 1))
            scale = np.ones(self.n_rows)
            scale[chosen] = float(multiply)
            g32 = (g * scale).astype(np.float32).astype(np.float64)
            h32 = (h * scale).astype(np.float32).astype(np.float64)
            return bag, g32, h32
        if p.bagging_freq > 0 and p.bagging_fraction < 1.0 and iteration % p.bagging_freq == 0:
            k = int(p.bagging_fraction * self.n_rows)
            self._bag = np.zeros(self.n_rows, dtype=bool)
            self._bag[self._bag_rng.choice(self.n_rows, size=k, replace=False)] = True
        return self._bag, g, h

    def features(self) -> np.ndarray:
        used = np.ones(self.n_features, dtype=bool)
        if self.p.feature_fraction >= 1.0:
            return used
        k = max(min(2, self.n_features), int(self.n_features * self.p.feature_fraction + 0.5))
        used[:] = False
        used[self._feature_rng.choice(self.n_features, size=k, replace=False)] = True
        return used


def logloss(y: np.ndarray, raw: np.ndarray) -> float:
    """LightGBM's ``binary_logloss`` (the default early-stopping metric of the binary objective)."""
    prob = np.clip(1.0 / (1.0 + np.exp(-raw)), 1e-15, 1.0 - 1e-15)
    return float(-np.mean(y * np.log(prob) + (1.0 - y) * np.log(1.0 - prob)))


class PlainSource:
    """Every feature held in the clear by one party: the reference learner (and the bank's own part)."""

    def __init__(self, bins: np.ndarray, feature_bins: Sequence[FeatureBins], valid_bins: np.ndarray) -> None:
        self.bins = bins
        self.feature_bins = list(feature_bins)
        self.valid_bins = valid_bins

    def histograms(
        self,
        rows: np.ndarray,
        g: np.ndarray,
        h: np.ndarray,
        features: np.ndarray,
        quant: Quantized | None = None,
    ) -> Histograms:
        out: Histograms = []
        gr, hr = g[rows], h[rows]
        g_scale = h_scale = 1.0
        if quant is not None:  # integer sums, then the scales: the numbers the platform's part gets
            gr, hr, g_scale, h_scale = quant.g[rows], quant.h[rows], quant.g_scale, quant.h_scale
        for j, fb in enumerate(self.feature_bins):
            if not features[j]:
                out.append((np.zeros(0), np.zeros(0)))
                continue
            b = self.bins[rows, j]
            out.append(
                (
                    np.bincount(b, weights=gr, minlength=fb.n_bins) * g_scale,
                    np.bincount(b, weights=hr, minlength=fb.n_bins) * h_scale,
                )
            )
        return out

    def partition(
        self, split: SplitInfo, rows: np.ndarray, valid: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, object]:
        left, valid_left = self.masks(split, rows, valid)
        return left, valid_left, self.content(split)

    def masks(self, split: SplitInfo, rows: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        fb = self.feature_bins[split.feature]
        return (
            _goes_left(self.bins[rows, split.feature], split, fb),
            _goes_left(self.valid_bins[valid, split.feature], split, fb),
        )

    def content(self, split: SplitInfo) -> tuple[int, float | None, bool, list[int] | None]:
        """(feature, threshold, default_left, categories) of a split, as a tree node records it: a
        numerical split has a threshold, a categorical one the category codes that go left."""
        fb = self.feature_bins[split.feature]
        if split.cat_bins:
            return split.feature, None, False, fb.category_set(split.cat_bins)
        return split.feature, fb.threshold(split.bin), _default_left(split, fb), None


def _default_left(split: SplitInfo, fb: FeatureBins) -> bool:
    return split.default_left if fb.has_nan else fb.default_left(split.bin)


def _goes_left(bins: np.ndarray, split: SplitInfo, fb: FeatureBins) -> np.ndarray:
    if split.cat_bins:
        return np.isin(bins, split.cat_bins)
    left = bins <= split.bin
    if fb.has_nan:
        left = np.where(bins == fb.nan_bin, split.default_left, left)
    return np.asarray(left, dtype=bool)


@dataclass(slots=True)
class BoostResult:
    base_score: float
    trees: list[GrownTree]
    best_iteration: int  # trees kept (early stopping), <= len(trees)
    valid_loss: list[float] = field(default_factory=list)


def boost(
    source: HistogramSource,
    y: np.ndarray,
    layouts: Sequence[BinLayout],
    p: SecureBoostParams,
    *,
    y_valid: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BoostResult:
    """LightGBM's GBDT loop for the binary objective: base score = training log-odds, then one tree per
    iteration on float32 gradients; stops early when a tree cannot split (as LightGBM does) or when the
    validation log-loss has not improved for ``early_stopping_round`` iterations."""
    y = np.asarray(y, dtype=np.float64)
    prior = float(np.clip(y.mean(), 1e-15, 1 - 1e-15))
    base = float(np.log(prior / (1.0 - prior)))
    raw = np.full(y.size, base)
    y_valid = np.zeros(0) if y_valid is None else np.asarray(y_valid, dtype=np.float64)
    raw_valid = np.full(y_valid.size, base)
    sampler = Sampler(p, y.size, len(layouts))
    trees: list[GrownTree] = []
    losses: list[float] = []
    best_iteration, best_loss = 0, math.inf
    valid_rows = np.arange(y_valid.size)
    quant_rng = np.random.default_rng([p.bagging_seed, 0x9A])
    for it in range(p.num_iterations):
        g, h = logistic_gradients(raw, y)
        bag, g, h = sampler.rows(it, g, h)
        quant = quantize_gradients(g, h, np.flatnonzero(bag), p, quant_rng) if p.use_quantized_grad else None
        tree = grow_tree(source, g, h, bag, valid_rows, layouts, sampler.features(), p, quant)
        if not tree.splits:
            break
        trees.append(tree)
        for value, rows, valid in tree.leaf_rows:
            raw[rows] += p.learning_rate * value
            raw_valid[valid] += p.learning_rate * value
        if progress is not None:
            progress(it + 1, p.num_iterations)
        if p.early_stopping_round > 0 and y_valid.size:
            loss = logloss(y_valid, raw_valid)
            losses.append(loss)
            if loss < best_loss:
                best_loss, best_iteration = loss, len(trees)
            elif len(trees) - best_iteration >= p.early_stopping_round:
                break
        else:
            best_iteration = len(trees)
    return BoostResult(base, trees, best_iteration, losses)
