"""Monitoring a joint model in use: population stability and score drift of the scored applicants per
month, and, once outcomes are known, default rates against the training evaluation.

    psi = population_stability(reference_scores, scores)          # one number; bins from the reference
    report = monthly_stability(reference_scores, scored)           # scored: month, score[, default]

PSI = Σ (a_i − e_i) · ln(a_i / e_i) over the reference's score deciles (e_i: the reference share of
bin i, a_i: the month's share; empty shares count as 0.0001 so a bin no one falls in stays finite).
Rules of thumb: < 0.1 stable, 0.1–0.25 watch, > 0.25 shifted. Everything here is computed by the bank
on its own scores: encrypted scoring never shows the platform a score.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fincredit.federation.errors import InputError

__all__ = ["monthly_stability", "population_stability", "stability_bins"]

_FLOOR = 1e-4


def stability_bins(reference: np.ndarray | pd.Series, bins: int = 10) -> np.ndarray:
    """Inner cut points of the reference scores' quantiles (the bins PSI compares shares over)."""
    ref = np.asarray(reference, dtype=np.float64)
    ref = ref[np.isfinite(ref)]
    if ref.size < bins:
        raise InputError(f"a stability reference needs at least {bins} finite scores, not {ref.size}")
    return np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))


def _shares(scores: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    s = scores[np.isfinite(scores)]
    counts = np.bincount(np.searchsorted(cuts, s, side="right"), minlength=cuts.size + 1)
    return np.asarray(np.maximum(counts / max(1, s.size), _FLOOR), dtype=np.float64)


def population_stability(
    reference: np.ndarray | pd.Series, actual: np.ndarray | pd.Series, *, bins: int = 10
) -> float:
    """PSI of ``actual`` scores against ``reference`` scores (e.g. the held-out training scores)."""
    cuts = stability_bins(reference, bins)
    e = _shares(np.asarray(reference, dtype=np.float64), cuts)
    a = _shares(np.asarray(actual, dtype=np.float64), cuts)
    return float(np.sum((a - e) * np.log(a / e)))


def monthly_stability(
    reference: np.ndarray | pd.Series,
    scored: pd.DataFrame,
    *,
    month: str = "month",
    score: str = "score",
    outcome: str | None = None,
    reference_default_rate: float | None = None,
    bins: int = 10,
) -> pd.DataFrame:
    """Per month of ``scored``: applicants scored, PSI against ``reference``, mean and quartiles of the
    score, and with ``outcome`` (1 = defaulted, missing while unknown) the observed default rate beside
    the training one."""
    for col in (month, score):
        if col not in scored.columns:
            raise InputError(f"the scored frame has no column {col!r}")
    cuts = stability_bins(reference, bins)
    e = _shares(np.asarray(reference, dtype=np.float64), cuts)
    rows = []
    for key, group in scored.groupby(month, sort=True):
        s = pd.to_numeric(group[score], errors="coerce").to_numpy(dtype=np.float64)
        finite = s[np.isfinite(s)]
        a = _shares(s, cuts)
        row: dict[str, object] = {
            "month": key,
            "scored": int(finite.size),
            "psi": float(np.sum((a - e) * np.log(a / e))) if finite.size else np.nan,
            "score_mean": float(finite.mean()) if finite.size else np.nan,
            "score_p25": float(np.quantile(finite, 0.25)) if finite.size else np.nan,
            "score_p75": float(np.quantile(finite, 0.75)) if finite.size else np.nan,
        }
        if outcome is not None:
            known = pd.to_numeric(group[outcome], errors="coerce").dropna()
            row["outcomes_known"] = int(known.size)
            row["default_rate"] = float(known.mean()) if known.size else np.nan
            row["training_default_rate"] = reference_default_rate
        rows.append(row)
    return pd.DataFrame(rows)
