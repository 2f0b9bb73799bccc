"""Encrypted scoring of the joint logistic regression matches plaintext scoring of the same model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tenseal as ts
from sklearn.linear_model import LogisticRegression

from fincredit.federation.errors import ScoringModelError
from fincredit.federation.joint_model import BankLogisticPart, PlatformLogisticPart
from fincredit.federation.scorer import EncryptedScorer
from fincredit.federation.scoring import (
    LR_DEPOSITED,
    LR_MASKED,
    LR_PARTIAL,
    LogisticDeposit,
    ScoringHandler,
    deposit_bank_half,
    plaintext_logistic_logit,
    sigmoid,
)
from fincredit.federation.wire import LocalLink, decode

BANK = ["term", "gross", "approved", "sba_approved", "revolving"]
PLATFORM = ["no_emp", "new_exist", "urban_rural", "create_job"]


def _fitted_halves(
    n: int, seed: int = 7
) -> tuple[BankLogisticPart, PlatformLogisticPart, np.ndarray, np.ndarray]:
    """A plaintext scikit-learn LR on the joined, standardised data, split into the two halves."""
    rng = np.random.default_rng(seed)
    xb = rng.normal([120, 2e5, 1.5e5, 1e5, 0.3], [60, 1e5, 8e4, 6e4, 0.4], size=(n, len(BANK)))
    xp = rng.normal([10, 1.2, 1.0, 3.0], [8, 0.4, 0.6, 5.0], size=(n, len(PLATFORM)))
    means_b, scales_b = xb.mean(0), xb.std(0)
    means_p, scales_p = xp.mean(0), xp.std(0)
    z = np.hstack([(xb - means_b) / scales_b, (xp - means_p) / scales_p])
    logit = z @ rng.normal(0, 1.2, z.shape[1]) - 0.8
    y = (rng.random(n) < sigmoid(logit)).astype(int)
    lr = LogisticRegression(C=10.0).fit(z, y)
    w = lr.coef_[0]
    bank = BankLogisticPart(
        "lr-1", BANK, list(w[: len(BANK)]), float(lr.intercept_[0]), list(means_b), list(scales_b)
    )
    platform = PlatformLogisticPart("lr-1", PLATFORM, list(w[len(BANK) :]), list(means_p), list(scales_p))
    return bank, platform, xb, xp


def _setup(model: object, xp: np.ndarray, ids: list[str]) -> ScoringHandler:
    rows = {subject: i for i, subject in enumerate(ids)}

    def features(q: list[str], names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return xp[[rows[s] for s in q]], np.ones(len(q), dtype=bool)

    return ScoringHandler(models=lambda bank_id, model_id: model, platform_features=features)  # type: ignore[arg-type,return-value]


def _frame(xb: np.ndarray, ids: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(xb, columns=BANK)
    df.insert(0, "id", ids)
    return df


@pytest.mark.parametrize("protocol", [LR_DEPOSITED, LR_MASKED, LR_PARTIAL])
def test_probabilities_match_plaintext_scoring_within_1e_4_across_chunks(protocol: str) -> None:
    bank, platform, xb, xp = _fitted_halves(5000)  # two CKKS chunks of 4096; 5 BFV ciphertexts
    ids = [f"A{i:06d}" for i in range(len(xb))]
    model = platform if protocol == LR_PARTIAL else LogisticDeposit(platform, bank)
    scorer = EncryptedScorer(LocalLink(_setup(model, xp, ids).local("bank-a")), bank, protocol=protocol)

    out = scorer.score(_frame(xb, ids))

    expected = sigmoid(plaintext_logistic_logit(bank, platform, xb, xp))
    assert out["id"].tolist() == ids
    assert out["refused"].isna().all()
    assert np.max(np.abs(out["probability"].to_numpy() - expected)) < 1e-4
    assert np.max(np.abs(out["score"].to_numpy() - plaintext_logistic_logit(bank, platform, xb, xp))) < 1e-5


def test_the_split_model_is_the_fitted_scikit_learn_model() -> None:
    bank, platform, xb, xp = _fitted_halves(300)
    z = np.hstack(
        [(xb - bank.means) / np.asarray(bank.scales), (xp - platform.means) / np.asarray(platform.scales)]
    )
    lr = LogisticRegression()
    lr.coef_ = np.array([bank.weights + platform.weights])
    lr.intercept_ = np.array([bank.intercept])
    lr.classes_ = np.array([0, 1])
    np.testing.assert_allclose(
        sigmoid(plaintext_logistic_logit(bank, platform, xb, xp)), lr.predict_proba(z)[:, 1], atol=1e-12
    )


def test_missing_bank_values_score_as_the_training_mean_in_both_paths() -> None:
    bank, platform, xb, xp = _fitted_halves(50)
    xb[::5, 1] = np.nan
    ids = [f"A{i}" for i in range(50)]
    scorer = EncryptedScorer(LocalLink(_setup(LogisticDeposit(platform, bank), xp, ids).local("b")), bank)
    out = scorer.score(_frame(xb, ids))
    expected = sigmoid(plaintext_logistic_logit(bank, platform, xb, xp))
    assert not np.isnan(expected).any()
    assert np.max(np.abs(out["probability"].to_numpy() - expected)) < 1e-4


def test_deposited_protocol_gives_refused_rows_nothing_computed_with_the_deposited_weights() -> None:
    bank, platform, xb, xp = _fitted_halves(20)
    ids = [f"A{i}" for i in range(20)]
    handler = ScoringHandler(
        models=lambda b, m: LogisticDeposit(platform, bank),
        platform_features=lambda q, names: (xp[: len(q)], np.ones(len(q), dtype=bool)),
        authorize=lambda b, q: ["no_consent" if s == "A3" else None for s in q],
    )
    scorer = EncryptedScorer(LocalLink(handler.local("b")), bank, protocol=LR_DEPOSITED)
    captured: list[bytes] = []
    link = LocalLink(handler.local("b"))

    class Spy:
        def call(self, frame):  # type: ignore[no-untyped-def]
            reply = link.call(frame)
            captured.extend(reply.blobs)
            return reply

    scorer._link = Spy()
    out = scorer.score(_frame(xb, ids))

    slot_values = ts.ckks_vector_from(scorer._ctx, captured[0]).decrypt()
    assert abs(slot_values[3]) < 1e-5  # the refused slot decrypts to zero, not w_bank·x_bank
    assert out.loc[3, "refused"] == "no_consent" and np.isnan(out.loc[3, "probability"])


def test_deposited_scoring_needs_a_deposit() -> None:
    bank, platform, xb, xp = _fitted_halves(10)
    ids = [f"A{i}" for i in range(10)]
    scorer = EncryptedScorer(LocalLink(_setup(platform, xp, ids).local("b")), bank, protocol=LR_DEPOSITED)
    with pytest.raises(ScoringModelError) as err:
        scorer.score(_frame(xb, ids))
    assert err.value.code == "protocol_mismatch"


def test_after_depositing_the_bank_scores_without_its_weights() -> None:
    bank, platform, xb, xp = _fitted_halves(100)
    deposit, keep = deposit_bank_half(bank)
    assert keep.weights == [] and keep.intercept == 0.0 and deposit.means == []
    ids = [f"A{i}" for i in range(100)]
    scorer = EncryptedScorer(LocalLink(_setup(LogisticDeposit(platform, deposit), xp, ids).local("b")), keep)
    out = scorer.score(_frame(xb, ids))
    expected = sigmoid(plaintext_logistic_logit(bank, platform, xb, xp))
    assert np.max(np.abs(out["probability"].to_numpy() - expected)) < 1e-4


def test_after_a_deposit_small_requests_go_masked_and_large_ones_by_column() -> None:
    bank, platform, _, xp = _fitted_halves(10)
    deposit, keep = deposit_bank_half(bank)
    scorer = EncryptedScorer(LocalLink(_setup(LogisticDeposit(platform, deposit), xp, []).local("b")), keep)
    assert scorer.protocol_for(1) == LR_MASKED and scorer.protocol_for(500) == LR_MASKED
    assert scorer.protocol_for(4096) == LR_DEPOSITED


def test_a_bank_that_kept_its_weights_scores_with_lr_partial_by_default_and_deposits_nothing() -> None:
    bank, platform, xb, xp = _fitted_halves(30)
    ids = [f"A{i}" for i in range(30)]
    # The platform holds only its own half: no deposit, and the default protocol still scores.
    scorer = EncryptedScorer(LocalLink(_setup(platform, xp, ids).local("b")), bank)
    assert scorer.protocol_for(1) == LR_PARTIAL and scorer.protocol_for(4096) == LR_PARTIAL
    out = scorer.score(_frame(xb, ids))
    expected = sigmoid(plaintext_logistic_logit(bank, platform, xb, xp))
    assert np.max(np.abs(out["probability"].to_numpy() - expected)) < 1e-4
    # Choosing the deposited protocol explicitly still works when the platform holds a deposit.
    assert (
        EncryptedScorer(LocalLink(_setup(platform, xp, ids).local("b")), bank, protocol="auto").protocol_for(
            1
        )
        == LR_MASKED
    )


def test_a_deposited_part_cannot_be_scored_with_lr_partial() -> None:
    bank, platform, _, xp = _fitted_halves(10)
    _, keep = deposit_bank_half(bank)
    with pytest.raises(ValueError, match="needs the bank's weights"):
        EncryptedScorer(LocalLink(_setup(platform, xp, []).local("b")), keep, protocol=LR_PARTIAL)


def test_masked_refused_rows_sum_to_nothing_and_slots_are_noise() -> None:
    bank, platform, xb, xp = _fitted_halves(20)
    ids = [f"A{i}" for i in range(20)]
    handler = ScoringHandler(
        models=lambda b, m: LogisticDeposit(platform, bank),
        platform_features=lambda q, names: (xp[[int(s[1:]) for s in q]], np.ones(len(q), dtype=bool)),
        authorize=lambda b, q: ["no_consent" if s == "A3" else None for s in q],
    )
    link = LocalLink(handler.local("b"), record=True)
    scorer = EncryptedScorer(link, bank, protocol=LR_MASKED)
    out = scorer.score(_frame(xb, ids))
    assert link.transcript is not None
    reply = decode(link.transcript[-1][1])
    params, ctx, _ = scorer._keys[True]
    slots = np.asarray(ts.bfv_vector_from(ctx, reply.blobs[0]).decrypt(), dtype=np.int64)[:-1]
    per_row = slots[: 20 * len(BANK)].reshape(20, len(BANK))
    t = params.plain_modulus  # type: ignore[union-attr]
    assert int(per_row[3].sum()) % t == 0  # the refused applicant's slots cancel to exactly 0
    assert np.abs(per_row).max() > 2**40  # each slot is masked over the whole 50-bit range
    assert out.loc[3, "refused"] == "no_consent"
    expected = sigmoid(plaintext_logistic_logit(bank, platform, xb, xp))
    ok = out["refused"].isna().to_numpy()
    assert np.max(np.abs(out["probability"].to_numpy()[ok] - expected[ok])) < 1e-5
