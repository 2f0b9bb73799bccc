"""AUC, KS and ROC agree with scikit-learn; plots are real PNG files."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from fincredit.models import ModelsError
from fincredit.models.evaluation import auc, evaluate, ks, ks_curve, plot_ks, plot_roc, roc_curve_points


@pytest.fixture
def scored() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.random(3000) < 0.2
    # Rounded scores create many ties, which is where rank-based AUC usually goes wrong.
    s = np.round(rng.normal(size=3000) + 0.8 * y, 1)
    return y, s


def test_auc_matches_sklearn_including_ties(scored) -> None:
    y, s = scored
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert auc(y, -s) == pytest.approx(1 - roc_auc_score(y, s), abs=1e-12)


def test_roc_points_match_sklearn_and_ks_is_the_largest_tpr_fpr_gap(scored) -> None:
    y, s = scored
    fpr, tpr, thr = roc_curve_points(y, s)
    sk_fpr, sk_tpr, _ = roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    assert thr[0] == np.inf
    assert ks(y, s) == pytest.approx(np.max(sk_tpr - sk_fpr))


def test_ks_curve_reaches_both_ends_and_its_gap_matches_ks(scored) -> None:
    y, s = scored
    curve = ks_curve(y, s, n_points=201)
    assert curve["cum_bad"][-1] == 1.0 and curve["cum_good"][-1] == 1.0
    gap = np.max(np.abs(np.array(curve["cum_bad"]) - np.array(curve["cum_good"])))
    assert gap == pytest.approx(ks(y, s), abs=0.03)  # sampled at quantiles, so close, not exact


def test_evaluate_reports_counts_and_refuses_single_class_labels(scored) -> None:
    y, s = scored
    e = evaluate(y, s)
    assert e.n == 3000 and e.positives == int(y.sum())
    assert set(e.as_dict()) == {"auc", "ks", "n", "positives"}
    with pytest.raises(ModelsError):
        auc(np.zeros(10), np.arange(10))
    with pytest.raises(ModelsError):
        auc([0, 1], [0.1])


def test_plots_are_written_as_png(tmp_path, scored) -> None:
    y, s = scored
    roc = plot_roc({"bank only": (y, s), "joint": (y, s + 0.5 * y)}, tmp_path / "roc.png")
    ksp = plot_ks(y, s, tmp_path / "plots" / "ks.png")
    for path in (roc, ksp):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
