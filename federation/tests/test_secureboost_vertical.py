"""SecureBoost under CKKS: LightGBM's trees, precise encrypted histograms, private thresholds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from fincredit.federation import FederationError, LocalLink
from fincredit.federation._ckks import SECUREBOOST_COEFF_MOD_BITS, SECUREBOOST_SCALE_BITS
from fincredit.federation._ckks_seal import SealKit
from fincredit.federation._sb_histogram import SLOTS, Packing, encrypt_gh, histogram_task, packing_for
from fincredit.federation._scoring_tree import plaintext_tree_raw
from fincredit.federation._secureboost import fit_plain, tree_scores
from fincredit.federation.training import (
    BankSecureBoostTrainer,
    PlatformSecureBoostJob,
    SecureBoostParams,
    bin_feature,
    decrypt_sums,
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


@pytest.mark.parametrize(
    ("rows", "replicas", "full"), [(300, 8, False), (5000, 1, False), (5000, 4, False), (9000, 2, True)]
)
def test_encrypted_histogram_equals_plaintext_histogram(rows: int, replicas: int, full: bool) -> None:
    """Enc(g) and Enc(h) times one complex mask give the sums of two bins per segment (real parts,
    imaginary parts), each row repeated in every segment of its ciphertext; the full layout keeps every
    training row in its slot, zero outside the leaf. The platform's blinding (amplitude 64) costs
    precision: about 1e-4 on a sum."""
    rng = np.random.default_rng(rows)
    g = rng.uniform(-1, 1, rows)
    h = rng.uniform(0, 0.25, rows)
    if full:  # rows outside the leaf carry zeros
        outside = rng.random(rows) < 0.5
        g[outside], h[outside] = 0.0, 0.0
    bins = rng.integers(0, 20, rows)
    bins[bins == 7] = 8  # an empty bin is simply absent from the answer
    secret = new_secret_context(SECUREBOOST_COEFF_MOD_BITS, SECUREBOOST_SCALE_BITS)
    bank = SealKit(secret)
    groups, blobs = histogram_task(
        public_context_bytes(secret),
        encrypt_gh(bank, g, h, replicas),
        bins[:, None],
        [20],
        64.0,
        1,
        replicas,
        full,
    )
    seg = SLOTS // replicas
    seen = []
    for k, group in enumerate(groups):
        for b, gs, hs in decrypt_sums(bank, blobs[2 * k], blobs[2 * k + 1], seg, group):
            seen.append(b)
            assert gs == pytest.approx(g[bins == b].sum(), abs=1e-3)
            assert hs == pytest.approx(h[bins == b].sum(), abs=1e-3)
    present = sorted(set(bins.tolist()))
    step = 2 * replicas
    if full:  # fixed groups of consecutive bins, an absent bin (7) named -1: its sum is an exact zero
        expected = {min(b - b % step + k, 19) for b in present for k in range(step)}
        expected = {b if b in present else -1 for b in expected}
    else:
        expected = set(present)
    assert set(seen) == expected


@pytest.mark.parametrize(("rows", "replicas", "full"), [(300, 8, False), (5000, 2, False), (9000, 1, True)])
def test_quantized_sums_come_back_exact_two_to_a_part(rows: int, replicas: int, full: bool) -> None:
    """With integer gradients each real and imaginary part carries two bins' sums, ``W`` apart: a
    complex mask serves four bins per segment and every sum is read back exactly."""
    rng = np.random.default_rng(rows)
    quant_bins = 16
    g = rng.integers(-quant_bins // 2, quant_bins // 2 + 1, rows).astype(float)
    h = rng.integers(0, quant_bins + 1, rows).astype(float)
    if full:
        outside = rng.random(rows) < 0.5
        g[outside], h[outside] = 0.0, 0.0
    bins = rng.integers(0, 30, rows)
    packing = packing_for(160_000, quant_bins)  # digits as wide as a 160,000-row job needs
    assert packing.digits == 2
    secret = new_secret_context(SECUREBOOST_COEFF_MOD_BITS, SECUREBOOST_SCALE_BITS)
    bank = SealKit(secret)
    groups, blobs = histogram_task(
        public_context_bytes(secret),
        encrypt_gh(bank, g, h, replicas, packing),
        bins[:, None],
        [30],
        64.0,
        1,
        replicas,
        full,
        packing,
    )
    assert all(len(real) <= 2 * replicas and len(imag) <= 2 * replicas for real, imag in groups)
    seg = SLOTS // replicas
    seen = set()
    for k, group in enumerate(groups):
        for b, gs, hs in decrypt_sums(bank, blobs[2 * k], blobs[2 * k + 1], seg, group, packing):
            seen.add(b)
            assert (gs, hs) == (g[bins == b].sum(), h[bins == b].sum())
    assert set(bins.tolist()) <= seen


def test_a_compact_group_carries_the_bins_of_several_features() -> None:
    """Features of few bins share a returned pair: the present bins of all scanned features run one
    after another as keys ``offset + bin``, so four features of 3, 3, 5 and 20 bins (31 keys) need two
    pairs of 16 keys, not one pair per feature and two for the last, and every sum comes back exact."""
    rng = np.random.default_rng(11)
    rows, replicas, n_bins = 4000, 4, [3, 3, 5, 20]
    g = rng.integers(-2, 3, rows).astype(float)
    h = rng.integers(0, 5, rows).astype(float)
    bins = np.column_stack([rng.integers(0, n, rows) for n in n_bins])
    packing = packing_for(rows, 4)
    secret = new_secret_context(SECUREBOOST_COEFF_MOD_BITS, SECUREBOOST_SCALE_BITS)
    bank = SealKit(secret)
    groups, blobs = histogram_task(
        public_context_bytes(secret),
        encrypt_gh(bank, g, h, replicas, packing),
        bins,
        n_bins,
        64.0,
        1,
        replicas,
        False,
        packing,
    )
    offsets = [0, 3, 6, 11]

    def feature(key: int) -> int:
        return int(np.searchsorted(offsets, key, side="right")) - 1

    assert len(groups) == 2
    assert {feature(key) for key in groups[0][0] + groups[0][1]} == {0, 1, 2, 3}
    seen = {}
    for k, group in enumerate(groups):
        for key, gs, hs in decrypt_sums(
            bank, blobs[2 * k], blobs[2 * k + 1], SLOTS // replicas, group, packing
        ):
            seen[(feature(key), key - offsets[feature(key)])] = (gs, hs)
    expected = {
        (f, b): (g[bins[:, f] == b].sum(), h[bins[:, f] == b].sum())
        for f, n in enumerate(n_bins)
        for b in range(n)
    }
    assert seen == expected


def test_a_packed_sum_is_read_as_balanced_digits_or_refused() -> None:
    packing = Packing(digits=2, bits=8)
    assert packing.read(-3.0 + 256.0 * 5.0 + 0.1) == [-3.0, 5.0]
    assert packing.read(100.0 - 256.0 * 7.0) == [100.0, -7.0]
    with pytest.raises(FederationError, match="precision"):
        packing.read(12.4)
    with pytest.raises(FederationError, match="range"):
        packing.read(256.0**2 * 3)
    assert packing_for(160_000, 4) == Packing(2, 21)
    assert packing_for(50_000_000, 64).digits == 1  # too wide for two digits: one sum per part


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


def _mixed(n: int, seed: int) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    xb = np.column_stack([rng.normal(size=n), rng.integers(0, 5, n).astype(float)])
    xp = rng.normal(size=(n, 3))
    xp[rng.random(n) < 0.15, 0] = np.nan
    xp[rng.random(n) < 0.3, 1] = 0.0
    logit = xb[:, 0] - 0.4 * xb[:, 1] + np.nan_to_num(xp[:, 0], nan=1.5) + xp[:, 1] * xp[:, 2]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return xb, pd.DataFrame(xp, columns=["p0", "p1", "p2"]), y


@pytest.mark.slow
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"data_sample_strategy": "goss", "learning_rate": 0.5},
        {"bagging_fraction": 0.7, "bagging_freq": 1, "feature_fraction": 0.8},
        {"early_stopping_round": 2, "num_iterations": 40, "learning_rate": 0.5},
        {"use_quantized_grad": True, "quant_train_renew_leaf": True},
        {"use_quantized_grad": True, "num_grad_quant_bins": 16, "data_sample_strategy": "goss"},
    ],
    ids=["plain", "goss", "bagging+feature_fraction", "early_stopping", "quantized", "quantized+goss"],
)
def test_federated_model_is_the_plaintext_learners_model(options: dict[str, float]) -> None:
    """Encrypted platform histograms (CKKS noise about 1e-4 per sum; none with quantized gradients, whose
    sums are integers) grow the trees the same learner grows in the clear on the joined columns, with
    missing values, GOSS, bagging, early stopping and quantized training alike."""
    xb, xp, y = _mixed(3000, 5)
    train, valid, test = np.arange(2000), np.arange(2000, 2400), np.arange(2400, 3000)
    params = SecureBoostParams(
        **{"num_iterations": 6, "max_depth": 4, "num_leaves": 12, "max_bin": 32, "lambda_l2": 1.0, **options}
    )
    job = PlatformSecureBoostJob(xp, job_id="m")
    trainer = BankSecureBoostTrainer(LocalLink(job.handle), job_id="m", params=params)
    part = trainer.fit(
        xb, y, features=["b0", "b1"], platform_features=list(xp.columns), train_rows=train, valid_rows=valid
    )
    federated = trainer.joint_scores(part, xb, test)
    joined = np.hstack([xb, xp.to_numpy()])
    names = ["b0", "b1", "p0", "p1", "p2"]
    plain = fit_plain(joined[train], y[train], names, params, x_valid=joined[valid], y_valid=y[valid])
    assert len(part.trees) == len(plain.trees)
    assert np.abs(federated - tree_scores(plain, joined[test], None)).max() < 1e-3
    assert part.importance_split == plain.importance_split
    platform = job.model_part()
    assert set(platform.importance) <= {"p0", "p1", "p2"}
    assert all(platform.importance[n][0] == plain.importance_split[n] for n in platform.importance)


@pytest.mark.slow
def test_platform_histograms_in_two_ray_actors_grow_the_same_model() -> None:
    """The platform's histogram work shared by two Ray actors (features split by bin count, each caching
    its masks) answers what one in-process worker answers: the same trees, the same scores."""
    pytest.importorskip("ray")
    xb, xp, y = _mixed(6000, 7)
    train, test = np.arange(5000), np.arange(5000, 6000)
    params = SecureBoostParams(num_iterations=2, max_depth=3, num_leaves=8, max_bin=32, lambda_l2=1.0)
    scores = []
    for workers in (1, 2):
        job = PlatformSecureBoostJob(xp, job_id=f"ray-{workers}", workers=workers)
        trainer = BankSecureBoostTrainer(LocalLink(job.handle), job_id=f"ray-{workers}", params=params)
        part = trainer.fit(xb, y, features=["b0", "b1"], platform_features=list(xp.columns), train_rows=train)
        scores.append(trainer.joint_scores(part, xb, test))
        assert job.worker_cpu_seconds > 0
    assert np.abs(scores[0] - scores[1]).max() < 1e-3


def _categorical(n: int, seed: int) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """Bank: a 12-category code and a number; platform: a 40-category code with missing values, negative
    and rare codes, a 3-category code (LightGBM's one-vs-rest regime) and a number."""
    rng = np.random.default_rng(seed)
    b_cat = rng.integers(0, 12, n).astype(float)
    p_cat = np.floor(rng.pareto(1.2, n) * 4)
    p_cat[rng.random(n) < 0.05] = np.nan
    p_cat[rng.random(n) < 0.02] = -1.0
    p_small = rng.integers(0, 3, n).astype(float)
    xb = np.column_stack([b_cat, rng.normal(size=n)])
    xp = np.column_stack([p_cat, p_small, rng.normal(size=n)])
    logit = np.sin(b_cat) + np.cos(np.nan_to_num(p_cat, nan=2.0)) + 0.8 * (p_small == 1) + xb[:, 1] - 0.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return xb, pd.DataFrame(xp, columns=["p_code", "p_kind", "p_num"]), y


@pytest.mark.slow
@pytest.mark.parametrize(
    "options",
    [{}, {"use_quantized_grad": True, "max_cat_threshold": 4, "min_data_per_group": 30}],
    ids=["categorical", "categorical+quantized"],
)
def test_categorical_features_of_either_party_grow_the_plaintext_learners_model(
    options: dict[str, object],
) -> None:
    """A feature named in ``categorical_feature`` is split as LightGBM splits categories, on either
    side: the platform keeps the category codes of its own splits (the bank knows only their bins),
    and the two halves of the model route rows as the plaintext learner's model does."""
    xb, xp, y = _categorical(3000, 11)
    train, test = np.arange(2400), np.arange(2400, 3000)
    params = SecureBoostParams(
        **{
            "num_iterations": 6,
            "num_leaves": 12,
            "max_bin": 63,
            "lambda_l2": 1.0,
            "categorical_feature": ["b_code", "p_code", "p_kind"],
            **options,
        }  # type: ignore[arg-type]
    )
    job = PlatformSecureBoostJob(xp, job_id="cat")
    trainer = BankSecureBoostTrainer(LocalLink(job.handle), job_id="cat", params=params)
    part = trainer.fit(
        xb, y, features=["b_code", "b_num"], platform_features=list(xp.columns), train_rows=train
    )
    joined = np.hstack([xb, xp.to_numpy()])
    names = ["b_code", "b_num", "p_code", "p_kind", "p_num"]
    plain = fit_plain(joined[train], y[train], names, params)
    federated = trainer.joint_scores(part, xb, test)
    assert np.abs(federated - tree_scores(plain, joined[test], None)).max() < 1e-3  # CKKS noise, as above
    assert part.importance_split == plain.importance_split
    bank_sets = [n.categories for t in part.trees for n in t if n.owner == "bank" and n.categories]
    platform = job.model_part()
    platform_sets = [s.categories for s in platform.splits.values() if s.categories]
    assert bank_sets and platform_sets
    assert all(s.threshold is None and not s.default_left for s in platform.splits.values() if s.categories)
    assert plaintext_tree_raw(part, platform, xb[test], xp.to_numpy()[test]) == pytest.approx(federated)
