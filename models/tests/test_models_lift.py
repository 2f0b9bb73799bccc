"""The known risk model: public and market data add real signal over the bank's own features."""

from __future__ import annotations

from pathlib import Path

import pytest

from fincredit.models import load_catalog
from fincredit.models.evaluation import auc
from fincredit.models.features import MARKET_FEATURES, PUBLIC_FEATURES
from fincredit.models.synthetic import BANK_FEATURES, generate_city
from fincredit.models.training import compare_bank_vs_joint, predict_scores, train_lightgbm

# The platform owns the default catalog as a data file; models never imports the platform, so its tests read
# that file by path: the generator is tested against the catalog it is really run with.
CATALOG = load_catalog(
    Path(__file__).resolve().parents[2] / "platform/src/fincredit/platform/catalog/default_catalog.toml"
)


@pytest.mark.slow
def test_joint_model_beats_bank_only_by_a_clear_margin_on_20k_loans() -> None:
    city = generate_city(42_000, catalog=CATALOG, seed=2024)
    data = city.loans.to_pandas().join(city.features(), on="uscc")
    assert len(data) >= 20_000
    train = data.sample(frac=0.8, random_state=0)
    test = data.drop(train.index)
    result = compare_bank_vs_joint(
        train,
        test,
        label="default",
        bank_features=BANK_FEATURES,
        platform_features=[*PUBLIC_FEATURES, *MARKET_FEATURES],
        algorithm="lightgbm",
    )
    assert 0.64 < result.bank_only.auc < 0.76
    assert 0.75 < result.joint.auc < 0.86
    assert result.auc_lift > 0.06
    assert result.joint.ks > result.bank_only.ks
    # The bank's own data is worth something too: joint beats the platform's features alone.
    platform = [*PUBLIC_FEATURES, *MARKET_FEATURES]
    platform_only = auc(
        test["default"], predict_scores(train_lightgbm(train, train["default"], features=platform), test)
    )
    assert result.bank_only.auc < platform_only < result.joint.auc - 0.015
    # No model can beat the generating logit by more than sampling noise.
    assert result.joint.auc < city.info["loan_model"]["oracle_auc"] + 0.02
