"""The two halves of a joint model. Each party stores only its own half.

Logistic regression: score = sigmoid(bank.intercept + bank.weights·x_bank + platform.weights·x_platform);
the bank holds ``BankLogisticPart`` (its weights, the intercept), the platform ``PlatformLogisticPart``.

Trees (SecureBoost-style): the bank (label holder) knows every tree's shape and leaf values and the
splits on its own features; a split on a platform feature appears to the bank only as an opaque
``split_id`` whose feature and threshold the platform keeps in ``PlatformTreePart.splits``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Owner = Literal["bank", "platform"]


def goes_left(
    values: np.ndarray, threshold: float | None, default_left: bool, categories: Sequence[int] | None = None
) -> np.ndarray:
    """LightGBM's decision at a split, per value.

    Numerical: left when ``value <= threshold``, a missing value goes ``default_left``. Categorical
    (``categories`` set): left when the value, truncated to an integer code, is one of ``categories``;
    a missing value or a negative code goes right.
    """
    values = np.asarray(values, dtype=np.float64)
    missing = np.isnan(values)
    if categories is not None:
        codes = np.trunc(np.where(missing, -1.0, values))
        return np.asarray(np.isin(codes, np.asarray(categories, dtype=np.float64)) & (codes >= 0), dtype=bool)
    if threshold is None:
        raise ValueError("a numerical split needs a threshold")
    return np.asarray(np.where(missing, default_left, values <= threshold), dtype=bool)


@dataclass(slots=True)
class BankLogisticPart:
    model_id: str
    features: list[str]
    weights: list[float]
    intercept: float
    # Standardisation the bank applied to its own features before training (mean, scale per feature).
    means: list[float] = field(default_factory=list)
    scales: list[float] = field(default_factory=list)


@dataclass(slots=True)
class PlatformLogisticPart:
    model_id: str
    features: list[str]
    weights: list[float]
    means: list[float] = field(default_factory=list)
    scales: list[float] = field(default_factory=list)


@dataclass(slots=True)
class TreeNode:
    """Internal node when ``leaf_value`` is None. Goes left when feature value <= threshold, or, for a
    categorical split (``categories`` set), when the value's code is one of ``categories``
    (:func:`goes_left`).

    For ``owner == "bank"``: ``feature`` and ``threshold`` or ``categories`` are set. For
    ``owner == "platform"``: only ``split_id`` is set on the bank's copy. Missing values go
    ``default_left`` at a numerical split, right at a categorical one.
    """

    node_id: int
    leaf_value: float | None = None
    owner: Owner | None = None
    feature: str | None = None
    threshold: float | None = None
    split_id: int | None = None
    left: int | None = None
    right: int | None = None
    default_left: bool = True
    categories: list[int] | None = None

    def goes_left(self, values: np.ndarray) -> np.ndarray:
        return goes_left(values, self.threshold, self.default_left, self.categories)


@dataclass(slots=True)
class BankTreePart:
    model_id: str
    base_score: float  # initial raw score (log-odds)
    learning_rate: float
    trees: list[list[TreeNode]]  # each tree: nodes indexed by node_id, root is node 0
    bank_features: list[str]
    # LightGBM's feature importance over the kept trees, by feature name (the platform's features by the
    # names the bank asked for): number of splits and total split gain.
    importance_split: dict[str, int] = field(default_factory=dict)
    importance_gain: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class PlatformSplit:
    """A split on one of the platform's features: numerical (``threshold``) or categorical
    (``categories``, the codes that go left; ``threshold`` is then None)."""

    split_id: int
    feature: str
    threshold: float | None
    default_left: bool = True
    categories: list[int] | None = None

    def goes_left(self, values: np.ndarray) -> np.ndarray:
        return goes_left(values, self.threshold, self.default_left, self.categories)


@dataclass(slots=True)
class PlatformTreePart:
    model_id: str
    platform_features: list[str]
    splits: dict[int, PlatformSplit]
    # Per own feature: (number of splits, total split gain), as the bank reported them at the end.
    importance: dict[str, tuple[int, float]] = field(default_factory=dict)
