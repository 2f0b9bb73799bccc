"""How a risk team works around a joint model: WOE/IV per feature and a selection step before training,
a points scorecard (base points, PDO) of the logistic model with the platform's part as one more line,
and the stability of the scored population per month afterwards."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fincredit.federation.errors import InputError
from fincredit.federation.joint_model import BankLogisticPart
from fincredit.federation.monitoring import monthly_stability, population_stability
from fincredit.federation.scorecard import (
    Scorecard,
    bank_share,
    information_values,
    select_features,
    woe_table,
)

RNG = np.random.default_rng(11)
N = 4000


def _loans() -> pd.DataFrame:
    strong = RNG.normal(size=N)
    weak = RNG.normal(size=N)
    noise = RNG.normal(size=N)
    twin = strong + RNG.normal(scale=0.05, size=N)  # nearly the same information as `strong`
    logit = -1.5 + 1.4 * strong + 0.25 * weak
    default = (RNG.random(N) < 1 / (1 + np.exp(-logit))).astype(int)
    df = pd.DataFrame({"strong": strong, "weak": weak, "noise": noise, "twin": twin, "default": default})
    df.loc[RNG.random(N) < 0.05, "weak"] = np.nan  # missing values get their own bin
    return df


def test_iv_ranks_features_by_evidence_and_selection_drops_the_useless_and_the_redundant() -> None:
    df = _loans()
    table = woe_table(df, "weak", "default", bins=5)
    assert table["missing"].iloc[-1] and table["rows"].sum() == N
    assert (table["bads"] + table["goods"] == table["rows"]).all()
    ivs = information_values(df, ["noise", "weak", "strong", "twin"], "default")
    assert list(ivs.index[:2]) == ["strong", "twin"] or list(ivs.index[:2]) == ["twin", "strong"]
    assert ivs["strong"] > 0.3 and 0.02 < ivs["weak"] < ivs["strong"] and ivs["noise"] < 0.02
    kept = select_features(ivs, df, min_iv=0.02, max_correlation=0.8)
    assert kept[0] in ("strong", "twin") and len(set(kept) & {"strong", "twin"}) == 1 and "weak" in kept
    assert "noise" not in kept
    with pytest.raises(InputError, match="0/1"):
        information_values(df.assign(default=df["default"].map({0: "good", 1: "bad"})), ["weak"], "default")


def test_a_logistic_model_exports_as_points_with_base_points_and_pdo() -> None:
    df = _loans()
    part = BankLogisticPart("m", ["strong", "weak"], [1.4, 0.25], -1.5, [0.0, 0.0], [1.0, 1.0])
    card = Scorecard.from_logistic(part, df, base_points=600, base_odds=50, pdo=20, bins=20)
    factor = 20 / math.log(2)
    assert card.factor == pytest.approx(factor)
    assert card.base_points == pytest.approx(600 - factor * math.log(50) + factor * 1.5, abs=0.1)
    # Higher risk in a feature means fewer points: the bins' points fall as the feature rises.
    strong = card.table[(card.table["feature"] == "strong") & ~card.table["missing"]]
    assert strong["points"].is_monotonic_decreasing
    # Points track the model: PDO more points halve the odds of bad.
    platform_logit = RNG.normal(scale=0.5, size=N)
    points = card.points(df, platform_logit)
    logit = bank_share(part, df) + platform_logit
    slope = np.polyfit(logit, points.to_numpy(), 1)[0]
    assert slope == pytest.approx(-factor, rel=0.05)
    assert card.probability_of_points(np.array([card.offset]))[0] == pytest.approx(0.5)
    # Refused applicants have no platform part and so no score.
    assert np.isnan(card.points(df.head(1), np.array([np.nan]))).all()
    deposited = BankLogisticPart("m", ["strong"], [], 0.0, [0.0], [1.0])
    with pytest.raises(InputError, match="deposited"):
        Scorecard.from_logistic(deposited, df)


def test_stability_is_near_zero_for_the_same_population_and_flags_a_shift() -> None:
    reference = RNG.normal(size=5000)
    assert population_stability(reference, RNG.normal(size=5000)) < 0.02
    assert population_stability(reference, RNG.normal(loc=0.8, size=5000)) > 0.25
    scored = pd.DataFrame(
        {
            "month": np.repeat(["2026-01", "2026-02", "2026-03"], 1000),
            "score": np.concatenate(
                [RNG.normal(size=1000), RNG.normal(size=1000), RNG.normal(1.0, size=1000)]
            ),
            "default": np.concatenate(
                [RNG.random(1000) < 0.1, RNG.random(1000) < 0.1, np.full(1000, np.nan)]
            ),
        }
    )
    report = monthly_stability(reference, scored, outcome="default", reference_default_rate=0.1)
    assert list(report["month"]) == ["2026-01", "2026-02", "2026-03"]
    assert report["psi"].iloc[0] < 0.05 and report["psi"].iloc[2] > 0.25
    assert report["outcomes_known"].tolist() == [1000, 1000, 0] and np.isnan(report["default_rate"].iloc[2])
    assert report["default_rate"].iloc[0] == pytest.approx(0.1, abs=0.03)
