"""Model evaluation: AUC, KS, ROC and KS curves, and their plots (matplotlib, Agg backend).

AUC is computed from average ranks (the Mann-Whitney U statistic) so it agrees with
``sklearn.metrics.roc_auc_score`` to float precision without sorting twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from fincredit.models.errors import ModelsError

__all__ = [
    "Evaluation",
    "auc",
    "evaluate",
    "ks",
    "ks_curve",
    "plot_ks",
    "plot_roc",
    "roc_curve_points",
]


def _check(y_true: ArrayLike, score: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(bool).ravel()
    s = np.asarray(score, dtype=float).ravel()
    if y.shape != s.shape:
        raise ModelsError(f"labels ({y.size}) and scores ({s.size}) differ in length")
    if np.isnan(s).any():
        raise ModelsError("scores contain NaN")
    positives = int(y.sum())
    if positives == 0 or positives == y.size:
        raise ModelsError("AUC and KS need both classes among the labels")
    return y, s


def _average_ranks(s: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank (what the Mann-Whitney statistic needs)."""
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1]
    ends = np.r_[starts[1:], s.size]
    avg = (starts + ends + 1) / 2.0  # mean of ranks starts+1 .. ends
    ranks = np.empty(s.size)
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def auc(y_true: ArrayLike, score: ArrayLike) -> float:
    y, s = _check(y_true, score)
    ranks = _average_ranks(s)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_curve_points(y_true: ArrayLike, score: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds), one point per distinct score, from (0, 0) to (1, 1)."""
    y, s = _check(y_true, score)
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    distinct = np.r_[np.flatnonzero(np.diff(s_sorted)), y_sorted.size - 1]
    tps = np.cumsum(y_sorted)[distinct]
    fps = (distinct + 1) - tps
    tpr = np.r_[0.0, tps / tps[-1]]
    fpr = np.r_[0.0, fps / fps[-1]]
    thresholds = np.r_[np.inf, s_sorted[distinct]]
    return fpr, tpr, thresholds


def ks(y_true: ArrayLike, score: ArrayLike) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the score CDFs of bads and goods."""
    fpr, tpr, _ = roc_curve_points(y_true, score)
    return float(np.max(np.abs(tpr - fpr)))


def ks_curve(y_true: ArrayLike, score: ArrayLike, n_points: int = 101) -> dict[str, list[float]]:
    """CDFs of bads and goods over the score population's quantiles (for the usual KS chart)."""
    y, s = _check(y_true, score)
    qs = np.linspace(0.0, 1.0, n_points)
    cuts = np.quantile(s, qs)
    bad = np.sort(s[y])
    good = np.sort(s[~y])
    return {
        "population_share": qs.tolist(),
        "threshold": cuts.tolist(),
        "cum_bad": (np.searchsorted(bad, cuts, side="right") / bad.size).tolist(),
        "cum_good": (np.searchsorted(good, cuts, side="right") / good.size).tolist(),
    }


@dataclass(frozen=True, slots=True)
class Evaluation:
    auc: float
    ks: float
    n: int
    positives: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(y_true: ArrayLike, score: ArrayLike) -> Evaluation:
    y, s = _check(y_true, score)
    return Evaluation(auc=auc(y, s), ks=ks(y, s), n=int(y.size), positives=int(y.sum()))


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_roc(curves: dict[str, tuple[ArrayLike, ArrayLike]], path: str | Path, title: str = "ROC") -> Path:
    """One ROC line per named (y_true, score) pair, e.g. {"bank only": ..., "joint": ...}; writes a PNG."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    for name, (y, s) in curves.items():
        fpr, tpr, _ = roc_curve_points(y, s)
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc(y, s):.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="lower right")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", bbox_inches="tight")
    plt.close(fig)
    return out


def plot_ks(y_true: ArrayLike, score: ArrayLike, path: str | Path, title: str = "KS") -> Path:
    plt = _pyplot()
    curve = ks_curve(y_true, score)
    gap = np.abs(np.array(curve["cum_bad"]) - np.array(curve["cum_good"]))
    at = int(np.argmax(gap))
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(curve["population_share"], curve["cum_bad"], label="bad (default)")
    ax.plot(curve["population_share"], curve["cum_good"], label="good")
    x = curve["population_share"][at]
    ax.vlines(x, curve["cum_good"][at], curve["cum_bad"][at], colors="red", label=f"KS {gap[at]:.3f}")
    ax.set(
        xlabel="population share (by score)", ylabel="cumulative share", title=title, xlim=(0, 1), ylim=(0, 1)
    )
    ax.legend(loc="upper left")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", bbox_inches="tight")
    plt.close(fig)
    return out
