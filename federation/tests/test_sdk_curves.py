"""The held-out curves the bank's SDK reports with its evaluation: about a hundred points per curve,
aggregates only (no threshold, row or label), and faithful to the AUC and KS they illustrate."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from fincredit.federation.training import evaluation_curves, ks_statistic


def test_curves_are_thinned_monotone_and_agree_with_auc_and_ks() -> None:
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, 5000)
    scores = y * 0.9 + rng.normal(size=y.size)
    curves = evaluation_curves(y, scores)
    assert set(curves) == {"roc", "ks"} and set(curves["roc"]) == {"fpr", "tpr"}
    fpr, tpr = np.array(curves["roc"]["fpr"]), np.array(curves["roc"]["tpr"])
    assert 50 <= fpr.size <= 101 and fpr.size == tpr.size
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert abs(np.trapezoid(tpr, fpr) - roc_auc_score(y, scores)) < 0.01
    ks = curves["ks"]
    assert len(ks["population_share"]) == len(ks["cum_bad"]) == len(ks["cum_good"]) == 101
    gap = np.max(np.array(ks["cum_good"]) - np.array(ks["cum_bad"]))
    assert abs(gap - ks_statistic(y, scores)) < 0.02
    assert "threshold" not in ks and "thresholds" not in curves["roc"]


def test_a_tiny_test_set_keeps_every_roc_point() -> None:
    y = np.array([0, 1, 0, 1, 1, 0])
    curves = evaluation_curves(y, np.array([0.1, 0.9, 0.3, 0.6, 0.4, 0.5]))
    assert curves["roc"]["fpr"][0] == 0.0 and curves["roc"]["tpr"][-1] == 1.0
    assert len(curves["roc"]["fpr"]) <= 7
