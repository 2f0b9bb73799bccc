"""SecureBoost under CKKS: LightGBM's trees, precise encrypted histograms, private thresholds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from fincredit.federation import FederationError, LocalLink
from fincredit.federation._ckks import (
    SECUREBOOST_COEFF_MOD_BITS,
    SECUREBOOST_SCALE_BITS,
    encrypt_chunks,
    load_ciphertexts,
)
from fincredit.federation._secureboost import _pack_gh
from fincredit.federation.training import (
    BankSecureBoostTrainer,
    PlatformSecureBoostJob,
    SecureBoostParams,
    bin_feature,
    decrypt_segments,
    encrypted_histogram,
    load_public_context,
    new_secret_context,
    public_context_bytes,
    quantile_thresholds,
)


def _discrete_data(n: int, seed: int = 3) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """Features with at most 12 distinct values: every distinct value is its own bin on both sides, so
    LightGBM and the federated trainer see identical histograms and must grow the same trees."""
    rng = np.random.default_rng(seed)
    xb = rng.integers(0, 12, size=(n, 2)).astype(float)
    xp = rng.integers(0, 10, size=(n, 3)).astype(float)
    xp[:, 2] = rng.integers(0, 3, size=n) * 2.5
    logit = (
        0.3 * (xb[:, 0] - 6)
        + np.where(xp[:, 0] > 4, 1.0, -1.0)
        + 0.2 * xb[:, 1] * (xp[:, 1] > 6)
        - 0.4 * xp[:, 2]
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return xb, pd.DataFrame(xp, columns=["p_sales", "p_staff", "p_rating"]), y


@pytest.mark.slow
def test_federated_secureboost_matches_lightgbm_auc_within_0_003() -> None:
    lightgbm = pytest.importorskip("lightgbm")
    xb, xp, y = _discrete_data(2500)
    train, test = np.arange(2000), np.arange(2000, 2500)
    params = SecureBoostParams(
        n_trees=6, max_depth=3, learning_rate=0.3, max_bin=16, l2=1.0, min_data_in_leaf=20
    )
    job = PlatformSecureBoostJob(xp, job_id="sb")
    trainer = BankSecureBoostTrainer(LocalLink(job.handle), job_id="sb", params=params)
    part = trainer.fit(xb, y, features=["b0", "b1"], platform_features=list(xp.columns), train_rows=train)
    federated = roc_auc_score(y[test], trainer.joint_scores(part, xb, test))

    joined = np.hstack([xb, xp.to_numpy()])
    central = lightgbm.LGBMClassifier(
        n_estimators=6,
        max_depth=3,
        num_leaves=8,
        learning_rate=0.3,
        max_bin=16,
        reg_lambda=1.0,
        min_child_samples=20,
        min_child_weight=1e-3,
        verbose=-1,
    ).fit(joined[train], y[train])
    centralized = roc_auc_score(y[test], central.predict_proba(joined[test])[:, 1])
    assert abs(federated - centralized) < 0.003
    platform = job.model_part()
    assert platform.splits, "the platform's features carry signal, so some splits must be the platform's"
    for tree in part.trees:
        for node in tree:
            if node.owner == "platform":
                assert node.feature is None and node.threshold is None and node.split_id in platform.splits


@pytest.mark.parametrize("rows", [300, 5000])
def test_encrypted_histogram_equals_plaintext_histogram(rows: int) -> None:
    rng = np.random.default_rng(rows)
    g = rng.uniform(-1, 1, rows)
    h = rng.uniform(0, 0.25, rows)
    bins = rng.integers(0, 20, rows)
    bins[bins == 7] = 8  # an empty bin is simply absent from the answer
    secret = new_secret_context(SECUREBOOST_COEFF_MOD_BITS, SECUREBOOST_SCALE_BITS)
    public = load_public_context(public_context_bytes(secret), SECUREBOOST_SCALE_BITS)
    chunks = load_ciphertexts(public, encrypt_chunks(secret, _pack_gh(g, h)))
    groups, blobs = encrypted_histogram(public, chunks, bins, 20, np.random.default_rng(0), 64.0)
    assert [b for group in groups for b in group] == sorted(set(bins.tolist()))
    for group, blob in zip(groups, blobs, strict=True):
        for (gs, hs), b in zip(decrypt_segments(secret, blob, rows, len(group)), group, strict=True):
            assert gs == pytest.approx(g[bins == b].sum(), abs=1e-4)
            assert hs == pytest.approx(h[bins == b].sum(), abs=1e-4)


def test_bins_are_lightgbms_bins() -> None:
    """Zero alone; rare values merged (min_data_in_bin = 3); frequent values alone; the rest near-equal."""
    few = np.array([3.0, 1.0, 2.0, 2.0, 2.0, 1.0, 1.0, 0.0, 0.0, 0.0, np.nan])
    cuts = quantile_thresholds(few, 8)
    np.testing.assert_allclose(cuts, [1e-35, 1.5, 2.5])
    assert bin_feature(few, cuts).tolist() == [3, 1, 2, 2, 2, 1, 1, 0, 0, 0, 0]
    many = np.random.default_rng(0).normal(size=10_000)
    cuts = quantile_thresholds(many, 16)
    counts = np.bincount(bin_feature(many, cuts))
    # the zero bin sits empty between the negative and the positive bins, exactly as in LightGBM
    assert len(cuts) == 15 and (counts == 0).sum() == 1 and counts[counts > 0].min() > 400


def test_bins_match_lightgbm_exactly() -> None:
    lightgbm = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(5)
    column = np.round(np.concatenate([rng.lognormal(10, 1, 3000), np.zeros(800), np.full(500, 50_000.0)]), -2)
    label = (np.log1p(column) + rng.normal(0, 2, column.size) > 8).astype(float)
    params = {"max_bin": 16, "verbose": -1, "feature_pre_filter": False}
    dataset = lightgbm.Dataset(column[:, None], label=label, params=params).construct()
    model = lightgbm.train(
        {"objective": "binary", "max_bin": 16, "verbose": -1, "num_leaves": 31, "min_data_in_leaf": 1},
        dataset,
        1,
    )
    used = {
        float(node["threshold"])
        for node in _internal_nodes(model.dump_model()["tree_info"][0]["tree_structure"])
    }
    ours = set(quantile_thresholds(column, 16).tolist())
    assert used and all(min(abs(t - o) / max(abs(t), 1e-30) for o in ours) < 1e-9 for t in used)


def _internal_nodes(node: dict) -> list[dict]:
    if "split_feature" not in node:
        return []
    return [node, *_internal_nodes(node["left_child"]), *_internal_nodes(node["right_child"])]


def test_platform_guards_cannot_be_lowered_by_the_bank() -> None:
    xb, xp, y = _discrete_data(300)
    job = PlatformSecureBoostJob(xp, job_id="g")
    trainer = BankSecureBoostTrainer(
        LocalLink(job.handle), job_id="g", params=SecureBoostParams(n_trees=1, min_data_in_leaf=2)
    )
    with pytest.raises(FederationError, match="min_data_in_leaf"):
        trainer.fit(xb, y, features=["b0", "b1"], platform_features=["p_sales"], train_rows=np.arange(250))
    assert "mask_amplitude" not in SecureBoostParams.__dataclass_fields__
