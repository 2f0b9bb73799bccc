"""Vertical logistic regression under CKKS: same model as centralized scikit-learn, protocol hygiene."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from fincredit.federation import FederationError, Frame, LocalLink
from fincredit.federation._ckks import LOGISTIC_COEFF_MOD_BITS
from fincredit.federation._vertical_lr import _published_range
from fincredit.federation.training import (
    BankLogisticTrainer,
    LogisticParams,
    PlatformLogisticJob,
    bank_logits,
    new_secret_context,
    public_context_bytes,
    standardise,
)
from fincredit.federation.wire import decode


def _data(n: int = 2500, seed: int = 7) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    xb = rng.normal(size=(n, 3)) * [1.0, 3.0, 0.5] + [0.0, 10.0, -2.0]
    xp = rng.normal(size=(n, 4))
    xp[:, 3] = rng.random(n) < 0.2
    logit = xb @ [0.9, -0.2, 0.8] + xp @ [0.7, -0.9, 0.4, 1.1] + 0.3
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return xb, pd.DataFrame(xp, columns=["p_income", "p_tax", "p_sales", "p_flag"]), y


def _weights_after(params: LogisticParams) -> np.ndarray:
    xb, xp, y = _data(n=1200, seed=3)
    train = np.arange(1000)
    job = PlatformLogisticJob(xp, job_id="lr-pre")
    trainer = BankLogisticTrainer(LocalLink(job.handle), job_id="lr-pre", params=params)
    part = trainer.fit(xb, y, features=["a", "b", "c"], platform_features=list(xp.columns), train_rows=train)
    return np.r_[part.weights, job.model_part().weights]


@pytest.mark.slow
def test_each_partys_fixed_hessian_step_reaches_the_optimum_in_few_rounds() -> None:
    """15 preconditioned rounds land where scikit-learn does; 15 plain rounds are still far off."""
    xb, xp, y = _data(n=1200, seed=3)
    train = np.arange(1000)
    joined, _, _ = standardise(np.hstack([xb, xp.to_numpy()]), train)
    optimum = (
        LogisticRegression(C=1 / (1e-3 * train.size), max_iter=1000).fit(joined[train], y[train]).coef_[0]
    )
    pre = _weights_after(LogisticParams(iterations=15))
    plain = _weights_after(LogisticParams(iterations=15, precondition=False, learning_rate=1.0, momentum=0.9))
    assert np.linalg.norm(pre - optimum) < 0.05 * np.linalg.norm(optimum)
    assert np.linalg.norm(plain - optimum) > 10 * np.linalg.norm(pre - optimum)


@pytest.mark.slow
def test_federated_lr_matches_centralized_scikit_learn_auc_within_0_002() -> None:
    xb, xp, y = _data()
    train, test = np.arange(2000), np.arange(2000, 2500)
    job = PlatformLogisticJob(xp, job_id="lr-auc")
    trainer = BankLogisticTrainer(
        LocalLink(job.handle), job_id="lr-auc", params=LogisticParams(iterations=40)
    )
    part = trainer.fit(xb, y, features=["a", "b", "c"], platform_features=list(xp.columns), train_rows=train)
    joint = trainer.joint_scores(part, xb, test)
    federated = roc_auc_score(y[test], joint)

    joined, _, _ = standardise(np.hstack([xb, xp.to_numpy()]), train)
    central = LogisticRegression(C=1 / (1e-3 * train.size), max_iter=1000).fit(joined[train], y[train])
    centralized = roc_auc_score(y[test], central.decision_function(joined[test]))
    assert abs(federated - centralized) < 0.002
    # and the weights point the same way: the sigmoid interpolation is accurate, not just lucky
    platform = job.model_part()
    weights = np.r_[part.weights, platform.weights]
    cosine = weights @ central.coef_[0] / np.linalg.norm(weights) / np.linalg.norm(central.coef_[0])
    assert cosine > 0.998
    # each half scores its own features with its own standardisation
    own = bank_logits(part, xb[test])
    theirs = (xp.to_numpy()[test] - platform.means) / platform.scales @ platform.weights
    np.testing.assert_allclose(own + theirs, joint, atol=1e-9)


def test_platform_refuses_a_context_that_holds_the_secret_key() -> None:
    _, xp, _ = _data(50)
    job = PlatformLogisticJob(xp, job_id="j")
    secret = new_secret_context(LOGISTIC_COEFF_MOD_BITS)
    with_key = bytes(secret.serialize(save_secret_key=True))
    frame = Frame(
        kind="lr.open",
        job_id="j",
        meta={"params": {}, "platform_features": ["p_tax"], "bank_features": 2},
        blobs=[with_key, np.arange(40, dtype="<u4").tobytes()],
    )
    with pytest.raises(FederationError, match="secret key"):
        job.handle(frame)
    frame.blobs[0] = public_context_bytes(secret)
    assert job.handle(frame).kind == "lr.ready"


def test_platform_context_is_public_after_open() -> None:
    _, xp, _ = _data(50)
    job = PlatformLogisticJob(xp, job_id="j")
    secret = new_secret_context(LOGISTIC_COEFF_MOD_BITS)
    job.handle(
        Frame(
            kind="lr.open",
            job_id="j",
            meta={"params": {}, "platform_features": ["p_tax"], "bank_features": 2},
            blobs=[public_context_bytes(secret), np.arange(40, dtype="<u4").tobytes()],
        )
    )
    assert job._kit is not None and not job._kit.holds_secret_key


def test_platform_refuses_unknown_features_and_out_of_order_steps() -> None:
    _, xp, _ = _data(50)
    job = PlatformLogisticJob(xp, job_id="j")
    link = LocalLink(job.handle)
    trainer = BankLogisticTrainer(link, job_id="j", params=LogisticParams(iterations=1))
    with pytest.raises(FederationError, match="not available"):
        trainer.fit(
            np.zeros((50, 1)),
            np.zeros(50),
            features=["a"],
            platform_features=["salary"],
            train_rows=np.arange(40),
        )
    with pytest.raises(FederationError, match="not been opened"):
        job.handle(Frame(kind="lr.step", job_id="j", meta={"iteration": 0}))


def test_platform_refuses_lr_frames_out_of_protocol_order() -> None:
    """Replayed against a fresh job: a step needs its range first, and the next range (or the end)
    needs the previous step's gradient to have been asked for."""
    xb, xp, y = _data(300)
    recorded = LocalLink(PlatformLogisticJob(xp, job_id="j").handle, record=True)
    trainer = BankLogisticTrainer(recorded, job_id="j", params=LogisticParams(iterations=2))
    trainer.fit(xb, y, features=["a", "b", "c"], platform_features=["p_tax"], train_rows=np.arange(250))
    assert recorded.transcript is not None
    sent = [decode(data) for direction, data in recorded.transcript if direction == "bank->platform"]
    assert [f.kind for f in sent[-7:]] == ["lr.range", "lr.step", "lr.gradient"] * 2 + ["lr.finish"]
    by_kind: dict[str, list[Frame]] = {}
    for frame in sent:
        by_kind.setdefault(frame.kind, []).append(frame)

    job = PlatformLogisticJob(xp, job_id="j")
    for frame in [by_kind["lr.open"][0], *by_kind["lr.bank_column"]]:
        assert job.handle(frame).kind in ("lr.ready", "lr.ack")
    with pytest.raises(FederationError, match="must follow this iteration's lr\\.range"):
        job.handle(by_kind["lr.step"][0])
    with pytest.raises(FederationError, match="must follow this iteration's lr\\.step"):
        job.handle(by_kind["lr.gradient"][0])
    assert job.handle(by_kind["lr.range"][0]).kind == "lr.range"
    assert job.handle(by_kind["lr.step"][0]).kind == "lr.shares"
    with pytest.raises(FederationError, match="has not been asked for"):
        job.handle(by_kind["lr.range"][1])
    with pytest.raises(FederationError, match="has not been asked for"):
        job.handle(by_kind["lr.finish"][0])


def test_published_range_is_a_rounded_quantile_of_the_platform_logits_or_the_fixed_one() -> None:
    z = np.r_[np.linspace(-2.2, 2.2, 999), 40.0]  # one outlier row beyond the 99.9th percentile
    assert _published_range(z, LogisticParams()) == 2.5
    assert _published_range(np.zeros(10), LogisticParams()) == 1.0
    assert _published_range(z, LogisticParams(range_quantile=1.0)) == 40.0
    assert _published_range(z, LogisticParams(logit_range=5.0)) == 5.0


@pytest.mark.slow
def test_feature_plaintexts_beyond_the_cache_budget_give_the_same_model() -> None:
    xb, xp, y = _data(600)
    weights = []
    for budget in (512 * 1024 * 1024, 0):
        job = PlatformLogisticJob(xp, job_id="j", plain_cache_bytes=budget)
        trainer = BankLogisticTrainer(LocalLink(job.handle), job_id="j", params=LogisticParams(iterations=3))
        part = trainer.fit(
            xb, y, features=["a", "b", "c"], platform_features=list(xp.columns), train_rows=np.arange(500)
        )
        weights.append(np.r_[part.weights, job.model_part().weights])
    np.testing.assert_allclose(weights[0], weights[1], atol=1e-4)


@pytest.mark.slow
def test_evaluation_scores_only_held_out_rows() -> None:
    xb, xp, y = _data(300)
    job = PlatformLogisticJob(xp, job_id="j")
    trainer = BankLogisticTrainer(LocalLink(job.handle), job_id="j", params=LogisticParams(iterations=2))
    part = trainer.fit(
        xb, y, features=["a", "b", "c"], platform_features=["p_tax"], train_rows=np.arange(250)
    )
    assert trainer.joint_scores(part, xb, np.arange(250, 300)).shape == (50,)
    with pytest.raises(FederationError, match="held out"):
        trainer.joint_scores(part, xb, np.arange(240, 260))


@pytest.mark.slow
def test_a_step_too_large_for_one_frame_travels_in_uploads() -> None:
    xb, xp, y = _data(5000)
    job = PlatformLogisticJob(xp, job_id="big")
    link = LocalLink(job.handle, max_bytes=3 * 1024 * 1024, record=True)
    trainer = BankLogisticTrainer(
        link, job_id="big", params=LogisticParams(iterations=1), frame_bytes=100 * 1024
    )
    trainer.fit(xb[:, :1], y, features=["a"], platform_features=["p_tax"], train_rows=np.arange(4500))
    assert link.transcript is not None
    kinds = [decode(data).kind for direction, data in link.transcript if direction == "bank->platform"]
    assert kinds.count("lr.step") == 1 and kinds.count("lr.upload") >= 2
    assert max(len(data) for _, data in link.transcript) <= 3 * 1024 * 1024
    assert job.done
