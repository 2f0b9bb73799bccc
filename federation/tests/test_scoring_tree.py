"""Encrypted scoring of the joint tree model reproduces plaintext prediction of the same model."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import tenseal as ts

from fincredit.federation.joint_model import BankTreePart, PlatformSplit, PlatformTreePart, TreeNode
from fincredit.federation.scorer import EncryptedScorer
from fincredit.federation.scoring import (
    TREE_GROUPS,
    TREE_MASKED,
    ScoringHandler,
    compile_trees,
    plaintext_tree_raw,
    sigmoid,
    split_lightgbm_model,
)
from fincredit.federation.wire import LocalLink, decode

BANK = ["b0", "b1", "b2"]
PLATFORM = ["p0", "p1", "p2"]


def _data(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xb, xp = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    y = (xb[:, 0] + 0.8 * xp[:, 0] + xb[:, 1] * xp[:, 1] + rng.normal(size=n) > 0).astype(int)
    return xb, xp, y


def _handler(platform: PlatformTreePart, xp: np.ndarray, ids: list[str]) -> ScoringHandler:
    rows = {s: i for i, s in enumerate(ids)}
    return ScoringHandler(
        models=lambda bank_id, model_id: platform,
        platform_features=lambda q, names: (xp[[rows[s] for s in q]], np.ones(len(q), dtype=bool)),
    )


def _score(
    bank: BankTreePart,
    platform: PlatformTreePart,
    xb: np.ndarray,
    xp: np.ndarray,
    protocol: str | None = None,
) -> pd.DataFrame:
    ids = [f"S{i}" for i in range(len(xb))]
    df = pd.DataFrame(xb, columns=bank.bank_features)
    df.insert(0, "id", ids)
    link = LocalLink(_handler(platform, xp, ids).local("bank-a"))
    return EncryptedScorer(link, bank, protocol=protocol).score(df)


@pytest.fixture(scope="module")
def lightgbm_halves() -> tuple[object, BankTreePart, PlatformTreePart]:
    xb, xp, y = _data(3000)
    params = {"objective": "binary", "num_leaves": 8, "max_depth": 3, "learning_rate": 0.2, "verbose": -1}
    data = lgb.Dataset(pd.DataFrame(np.hstack([xb, xp]), columns=BANK + PLATFORM), y)
    booster = lgb.train(params, data, num_boost_round=15)
    bank, platform = split_lightgbm_model(booster, BANK, PLATFORM, "gbdt-1")
    return booster, bank, platform


def test_the_split_model_predicts_exactly_what_lightgbm_predicts(lightgbm_halves) -> None:  # type: ignore[no-untyped-def]
    booster, bank, platform = lightgbm_halves
    xb, xp, _ = _data(500, seed=11)
    joined = pd.DataFrame(np.hstack([xb, xp]), columns=BANK + PLATFORM)
    np.testing.assert_allclose(
        plaintext_tree_raw(bank, platform, xb, xp), booster.predict(joined, raw_score=True), atol=1e-12
    )


@pytest.mark.parametrize("protocol", [TREE_GROUPS, TREE_MASKED])
def test_encrypted_tree_scores_match_plaintext_prediction(lightgbm_halves, protocol: str) -> None:  # type: ignore[no-untyped-def]
    _, bank, platform = lightgbm_halves
    xb, xp, _ = _data(4500, seed=5)  # two CKKS chunks; several BFV ciphertexts with straddling rows

    out = _score(bank, platform, xb, xp, protocol)

    raw = plaintext_tree_raw(bank, platform, xb, xp)
    assert np.max(np.abs(out["score"].to_numpy() - raw)) < 1e-5
    assert np.max(np.abs(out["probability"].to_numpy() - sigmoid(raw))) < 1e-6
    assert ((out["probability"].to_numpy() > 0.5) == (raw > 0)).all()


def test_fewer_ciphertexts_than_leaves_are_sent_per_chunk(lightgbm_halves) -> None:  # type: ignore[no-untyped-def]
    _, bank, _ = lightgbm_halves
    compiled = compile_trees(bank)
    signatures = {tuple(sorted(s)) for s in compiled.groups}
    assert 0 < len(compiled.groups) == len(signatures) < len(compiled.leaf_conds)


def _handmade() -> tuple[BankTreePart, PlatformTreePart]:
    """Tree 0 mixes both parties (and a NaN default); tree 1 is bank-only; tree 2 platform-only."""
    t0 = [
        TreeNode(0, owner="bank", feature="b0", threshold=0.0, left=1, right=2, default_left=False),
        TreeNode(1, owner="platform", split_id=7, left=3, right=4),
        TreeNode(2, leaf_value=0.5),
        TreeNode(3, leaf_value=-1.0),
        TreeNode(4, owner="bank", feature="b1", threshold=1.0, left=5, right=6),
        TreeNode(5, leaf_value=2.0),
        TreeNode(6, leaf_value=3.0),
    ]
    t1 = [
        TreeNode(0, owner="bank", feature="b2", threshold=-0.5, left=1, right=2),
        TreeNode(1, leaf_value=0.25),
        TreeNode(2, leaf_value=-0.25),
    ]
    t2 = [
        TreeNode(0, owner="platform", split_id=8, left=1, right=2),
        TreeNode(1, leaf_value=0.125),
        TreeNode(2, owner="platform", split_id=7, left=3, right=4),
        TreeNode(3, leaf_value=-0.5),
        TreeNode(4, leaf_value=0.75),
    ]
    bank = BankTreePart("hand", base_score=-0.3, learning_rate=0.5, trees=[t0, t1, t2], bank_features=BANK)
    splits = {7: PlatformSplit(7, "p1", 0.2, default_left=False), 8: PlatformSplit(8, "p0", -0.1)}
    return bank, PlatformTreePart("hand", PLATFORM, splits)


@pytest.mark.parametrize("protocol", [TREE_GROUPS, TREE_MASKED])
def test_missing_values_follow_the_default_direction_on_both_sides(protocol: str) -> None:
    bank, platform = _handmade()
    xb, xp, _ = _data(200, seed=9)
    xb[::3, 0] = np.nan  # bank split defaults right
    xp[::4, 1] = np.nan  # platform split 7 defaults right
    xp[1::5, 0] = np.nan  # platform split 8 defaults left

    out = _score(bank, platform, xb, xp, protocol)

    raw = plaintext_tree_raw(bank, platform, xb, xp)
    assert np.max(np.abs(out["score"].to_numpy() - raw)) < 1e-5
    # Spot check the reference itself on one row walked by hand: b0 NaN -> right leaf 0.5.
    row = 0
    assert np.isnan(xb[row, 0])
    t1 = 0.25 if xb[row, 2] <= -0.5 else -0.25
    p0, p1 = xp[row, 0], xp[row, 1]
    t2 = 0.125 if (np.isnan(p0) or p0 <= -0.1) else (-0.5 if (not np.isnan(p1) and p1 <= 0.2) else 0.75)
    assert raw[row] == pytest.approx(-0.3 + 0.5 * (0.5 + t1 + t2))


def test_a_model_whose_platform_splits_are_never_reached_still_scores() -> None:
    bank, platform = _handmade()
    bank.trees = [bank.trees[1]]  # bank-only: nothing to encrypt, the platform still meters and refuses
    xb, xp, _ = _data(10)
    out = _score(bank, platform, xb, xp)
    np.testing.assert_allclose(
        out["score"].to_numpy(), plaintext_tree_raw(bank, platform, xb, xp), atol=1e-12
    )


def test_small_requests_use_masked_slots_and_full_chunks_use_groups(lightgbm_halves) -> None:  # type: ignore[no-untyped-def]
    _, bank, platform = lightgbm_halves
    scorer = EncryptedScorer(LocalLink(_handler(platform, np.zeros((1, 3)), ["S0"]).local("b")), bank)
    assert scorer.protocol_for(1) == TREE_MASKED and scorer.protocol_for(100) == TREE_MASKED
    assert scorer.protocol_for(4096) == TREE_GROUPS
    out = _score(bank, platform, *_data(1, seed=21)[:2])
    assert scorer.stats.requests == 0 and out["refused"].isna().all()


def test_each_masked_slot_is_uniform_noise_and_only_the_sum_is_the_score() -> None:
    bank, platform = _handmade()
    xb, xp, _ = _data(3, seed=2)
    ids = ["S0", "S1", "S2"]
    link = LocalLink(_handler(platform, xp, ids).local("b"), record=True)
    scorer = EncryptedScorer(link, bank, protocol=TREE_MASKED)
    df = pd.DataFrame(xb, columns=BANK)
    df.insert(0, "id", ids)
    out = scorer.score(df)

    assert link.transcript is not None
    reply = decode(link.transcript[-1][1])
    ctx = scorer._keys[True][1]
    slots = np.asarray(ts.bfv_vector_from(ctx, reply.blobs[0]).decrypt(), dtype=np.int64)
    groups = len(compile_trees(bank).groups)
    per_applicant = slots[: 3 * groups].reshape(3, groups)
    # The platform's masked products are hidden: slot values are spread over the whole 40-bit range.
    assert np.abs(per_applicant).max() > 2**30
    np.testing.assert_allclose(out["score"], plaintext_tree_raw(bank, platform, xb, xp), atol=1e-6)


@pytest.mark.parametrize("protocol", [TREE_GROUPS, TREE_MASKED])
def test_categorical_splits_of_either_party_score_as_lightgbm_predicts(protocol: str) -> None:
    """A LightGBM model with categorical features on both sides (``==`` splits, categories ``a||b``):
    a code in the split's set goes left; a missing value, a negative code or a code never seen in
    training goes right, in the plaintext halves and under encryption alike."""
    rng = np.random.default_rng(8)
    n = 3000
    xb, xp = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    xb[:, 2] = rng.integers(0, 9, n)
    xp[:, 0] = rng.integers(0, 15, n)
    y = (np.sin(xb[:, 2]) + np.cos(xp[:, 0]) + xb[:, 0] + rng.normal(size=n) > 0).astype(int)
    data = lgb.Dataset(
        pd.DataFrame(np.hstack([xb, xp]), columns=BANK + PLATFORM), y, categorical_feature=["b2", "p0"]
    )
    params = {
        "objective": "binary",
        "num_leaves": 8,
        "learning_rate": 0.2,
        "verbose": -1,
        "max_cat_to_onehot": 4,
    }
    booster = lgb.train(params, data, num_boost_round=10)
    bank, platform = split_lightgbm_model(booster, BANK, PLATFORM, "gbdt-cat")
    assert any(n.categories for t in bank.trees for n in t) and any(
        s.categories for s in platform.splits.values()
    )

    xb, xp = xb[:600].copy(), xp[:600].copy()
    for column, x in ((2, xb), (0, xp)):
        x[:50, column] = np.nan
        x[50:100, column] = -2.0
        x[100:150, column] = 99.0  # never seen in training
    joined = pd.DataFrame(np.hstack([xb, xp]), columns=BANK + PLATFORM)
    raw = plaintext_tree_raw(bank, platform, xb, xp)
    np.testing.assert_allclose(raw, booster.predict(joined, raw_score=True), atol=1e-12)
    out = _score(bank, platform, xb, xp, protocol)
    assert np.max(np.abs(out["score"].to_numpy() - raw)) < 1e-5
