"""How a bank's risk team works before and after a joint model: binning, WOE/IV, feature selection, and
the points scorecard of a logistic joint model.

Binning and information value (the bank's own features, in the clear, on its side)::

    bins = woe_table(df, "term_months", "default")          # one row per bin: range, counts, WOE, IV part
    ivs = information_values(df, features, "default")       # IV per feature, highest first
    keep = select_features(ivs, df, min_iv=0.02, max_correlation=0.8)

Bins are quantile bins of the non-missing values (at most ``bins``, fewer when values repeat) plus one bin
for missing values. WOE of a bin is ``ln(share of goods / share of bads)`` with 0.5 added to empty cells
(the usual smoothing), so a bin of only goods or only bads stays finite; IV is
``Σ (share of goods − share of bads) · WOE``. Label 1 is bad (default), as everywhere in the SDK.
Rules of thumb for IV: < 0.02 useless, 0.02–0.1 weak, 0.1–0.3 medium, > 0.3 strong.

The platform's features, under encryption (after the PSI, before training; what each side learns is in
:mod:`fincredit.federation._iv`: the bank gets each feature's IV from shuffled bin sizes and bad counts,
never thresholds, values or row memberships)::

    platform_ivs = lab.platform_information_values(job_id, df, label="default", alignment=alignment)

Scorecard (a logistic joint model, after training)::

    card = Scorecard.from_logistic(fit.bank_part, df, base_points=600, base_odds=50, pdo=20)
    card.table                 # feature, bin, range, points: the bank's features as a points table
    card.points(df_new, platform_logit=...)   # base + bank points + the platform's part as points

``score = offset − factor · logit(bad)`` with ``factor = pdo / ln 2`` and
``offset = base_points − factor · ln(base_odds)``: ``base_points`` at odds good:bad of ``base_odds``, and
``pdo`` more points double the odds. The model's logit is ``intercept + Σ w_j z_j + platform part``; the
bank's features are points per bin (``−factor · w_j · z_j`` at each bin's mean value, so the table is the
model on binned inputs), the intercept goes into the base points, and the platform's part comes back, as
encrypted scoring returns it under the applicant's consent, as one more points line:
``−factor · platform_logit`` (with ``lr-partial`` the bank receives the joint logit and subtracts its
own share, so that number is exactly what the platform contributes, nothing more).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fincredit.federation._iv import IV_REQUEST, IV_RESULT, platform_information_values, platform_iv_reply
from fincredit.federation._scoring_lr import standardise
from fincredit.federation.errors import InputError
from fincredit.federation.joint_model import BankLogisticPart

__all__ = [
    "IV_REQUEST",
    "IV_RESULT",
    "Scorecard",
    "bank_share",
    "information_values",
    "platform_information_values",
    "platform_iv_reply",
    "select_features",
    "woe_table",
]

_SMOOTH = 0.5


def _edges(values: np.ndarray, bins: int) -> np.ndarray:
    present = values[~np.isnan(values)]
    if present.size == 0:
        return np.array([-np.inf, np.inf])
    inner = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1]))
    return np.concatenate(([-np.inf], inner, [np.inf]))


def _bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value (right-closed intervals), ``len(edges) - 1`` for missing values."""
    idx = np.searchsorted(edges[1:-1], values, side="left")
    return np.where(np.isnan(values), len(edges) - 1, idx)


def _woe_from_counts(bad: np.ndarray, good: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    b = (bad + _SMOOTH) / (bad.sum() + _SMOOTH * bad.size)
    g = (good + _SMOOTH) / (good.sum() + _SMOOTH * good.size)
    woe = np.log(g / b)
    return woe, (g - b) * woe


def _labels(df: pd.DataFrame, label: str) -> np.ndarray:
    if label not in df.columns:
        raise InputError(f"no label column {label!r}")
    y = pd.to_numeric(df[label], errors="coerce").to_numpy(dtype=np.float64)
    if np.isnan(y).any() or not set(np.unique(y)) <= {0.0, 1.0}:
        raise InputError(f"label {label!r} must be 0/1 (1 = bad) on every row")
    if y.sum() == 0 or y.sum() == y.size:
        raise InputError(f"label {label!r} needs both goods and bads to weigh evidence")
    return np.asarray(y, dtype=bool)


def woe_table(df: pd.DataFrame, feature: str, label: str, *, bins: int = 10) -> pd.DataFrame:
    """One row per bin of ``feature``: ``lower`` < x <= ``upper`` (missing values: their own bin),
    rows, bads, goods, bad rate, WOE and the bin's share of the IV."""
    if feature not in df.columns:
        raise InputError(f"no feature column {feature!r}")
    y = _labels(df, label)
    x = pd.to_numeric(df[feature], errors="coerce").to_numpy(dtype=np.float64)
    edges = _edges(x, bins)
    idx = _bin_index(x, edges)
    k = len(edges)  # the finite bins and the missing bin
    rows = np.bincount(idx, minlength=k)
    bad = np.bincount(idx, weights=y, minlength=k)
    good = rows - bad
    keep = rows > 0  # empty bins (no missing value, repeated quantiles) take no part in the smoothing
    woe, iv = np.full(k, np.nan), np.zeros(k)
    woe[keep], iv[keep] = _woe_from_counts(bad[keep], good[keep])
    out = pd.DataFrame(
        {
            "feature": feature,
            "bin": np.arange(k),
            "lower": np.append(edges[:-1], np.nan),
            "upper": np.append(edges[1:], np.nan),
            "missing": np.arange(k) == k - 1,
            "rows": rows,
            "bads": bad.astype(np.int64),
            "goods": good.astype(np.int64),
            "bad_rate": np.divide(bad, rows, out=np.full(k, np.nan), where=rows > 0),
            "woe": woe,
            "iv": iv,
        }
    )
    return out[keep].reset_index(drop=True)


def information_values(df: pd.DataFrame, features: Sequence[str], label: str, *, bins: int = 10) -> pd.Series:
    """IV per feature (name -> IV), highest first."""
    ivs = {f: float(woe_table(df, f, label, bins=bins)["iv"].sum()) for f in features}
    return pd.Series(ivs, name="iv").sort_values(ascending=False)


def select_features(
    ivs: pd.Series,
    df: pd.DataFrame | None = None,
    *,
    min_iv: float = 0.02,
    max_correlation: float | None = 0.8,
    max_features: int | None = None,
) -> list[str]:
    """Features with IV >= ``min_iv``, strongest first, skipping one whose absolute Pearson correlation
    with an already kept feature exceeds ``max_correlation`` (needs ``df``), at most ``max_features``."""
    kept: list[str] = []
    for name, iv in ivs.sort_values(ascending=False).items():
        if iv < min_iv:
            break
        if df is not None and max_correlation is not None and kept:
            corr = df[[*kept, str(name)]].corr().abs()[str(name)].drop(str(name))
            if (corr > max_correlation).any():
                continue
        kept.append(str(name))
        if max_features is not None and len(kept) >= max_features:
            break
    return kept


def bank_share(part: BankLogisticPart, df: pd.DataFrame) -> np.ndarray:
    """The bank's own share of the joint logit, ``intercept + Σ w_j z_j``: subtracted from the joint
    logit encrypted scoring returns, it leaves the platform's part for :meth:`Scorecard.points`."""
    x = df[list(part.features)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    return np.asarray(part.intercept + standardise(x, part.means, part.scales) @ np.asarray(part.weights))


@dataclass(frozen=True, slots=True)
class Scorecard:
    """A points scorecard of a logistic joint model: ``table`` has the bank's features in bins with
    points, ``base_points`` includes the intercept, the platform's part is added per applicant."""

    base_points: float
    factor: float
    offset: float
    table: pd.DataFrame  # feature, bin, lower, upper, missing, points
    features: tuple[str, ...]

    @classmethod
    def from_logistic(
        cls,
        part: BankLogisticPart,
        df: pd.DataFrame,
        *,
        base_points: float = 600.0,
        base_odds: float = 50.0,
        pdo: float = 20.0,
        bins: int = 10,
    ) -> Scorecard:
        """Bin each of the bank's features on ``df`` (the bank's training rows) and give each bin the
        points of the model at the bin's mean value (missing: the training mean, 0 points)."""
        if not part.weights:
            raise InputError(
                "this part holds no weights (they were deposited with the platform): a scorecard needs them"
            )
        if pdo <= 0 or base_odds <= 0:
            raise InputError("pdo and base_odds must be positive")
        factor = pdo / math.log(2.0)
        offset = base_points - factor * math.log(base_odds)
        rows = []
        for j, name in enumerate(part.features):
            if name not in df.columns:
                raise InputError(f"the scorecard's frame has no column {name!r}")
            x = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=np.float64)
            edges = _edges(x, bins)
            idx = _bin_index(x, edges)
            mean = part.means[j] if part.means else 0.0
            scale = part.scales[j] if part.scales and part.scales[j] != 0 else 1.0
            for b in range(len(edges)):
                members = x[idx == b]
                if members.size == 0:
                    continue
                missing = b == len(edges) - 1
                z = 0.0 if missing else (float(np.mean(members)) - mean) / scale
                rows.append(
                    {
                        "feature": name,
                        "bin": b,
                        "lower": np.nan if missing else edges[b],
                        "upper": np.nan if missing else edges[b + 1],
                        "missing": missing,
                        "points": round(-factor * part.weights[j] * z, 1),
                    }
                )
        table = pd.DataFrame(rows, columns=["feature", "bin", "lower", "upper", "missing", "points"])
        return cls(
            base_points=round(offset - factor * part.intercept, 1),
            factor=factor,
            offset=offset,
            table=table,
            features=tuple(part.features),
        )

    def bank_points(self, df: pd.DataFrame) -> pd.Series:
        """Base points plus the points of each applicant's bins of the bank's features."""
        total = np.full(len(df), self.base_points)
        for name, rows in self.table.groupby("feature", sort=False):
            x = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=np.float64)
            finite = rows[~rows["missing"]]
            edges = np.concatenate(([-np.inf], finite["upper"].to_numpy()[:-1], [np.inf]))
            pts = finite["points"].to_numpy()
            idx = np.clip(np.searchsorted(edges[1:-1], x, side="left"), 0, len(pts) - 1)
            missing_pts = rows.loc[rows["missing"], "points"]
            miss = float(missing_pts.iloc[0]) if len(missing_pts) else 0.0
            total += np.where(np.isnan(x), miss, pts[idx])
        return pd.Series(total, index=df.index, name="bank_points")

    def platform_points(self, platform_logit: np.ndarray | pd.Series) -> np.ndarray:
        """The platform's part as points: ``−factor · platform_logit`` (NaN where it refused)."""
        return -self.factor * np.asarray(platform_logit, dtype=np.float64)

    def points(self, df: pd.DataFrame, platform_logit: np.ndarray | pd.Series) -> pd.Series:
        """Total points: base, the bank's bins, and the platform's part (NaN where it was refused)."""
        return (self.bank_points(df) + self.platform_points(platform_logit)).rename("points")

    def probability_of_points(self, points: np.ndarray | pd.Series) -> np.ndarray:
        """Probability of bad at a score: the inverse of ``points = offset − factor · logit``."""
        logit = (self.offset - np.asarray(points, dtype=np.float64)) / self.factor
        return 1.0 / (1.0 + np.exp(-logit))
