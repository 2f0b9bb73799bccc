"""The platform's own enterprise credit score, a metered market product (G§14).

A LightGBM model on public + market features only (no bank data), trained against loan outcomes,
mapped to a 300-900 score with the usual points-to-double-odds scaling: 600 points at 30:1 good:bad
odds, 40 more points for every doubling of the odds. Registered in MLflow; the serving side loads the
``production`` alias and returns the version with every score.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fincredit.models.errors import ModelsError
from fincredit.models.evaluation import Evaluation, evaluate
from fincredit.models.features import FEATURE_SOURCES, MARKET_FEATURES, PUBLIC_FEATURES
from fincredit.models.tracking import Lineage, RunRecord, Tracking
from fincredit.models.training import predict_scores, train_lightgbm

__all__ = [
    "SCORE_FEATURES",
    "SCORE_MODEL_NAME",
    "EnterpriseScoreModel",
    "grade",
    "load_enterprise_score",
    "pd_to_score",
    "register_enterprise_score",
    "train_enterprise_score",
]

SCORE_MODEL_NAME = "enterprise-credit-score"
SCORE_FEATURES: tuple[str, ...] = (*PUBLIC_FEATURES, *MARKET_FEATURES)
_BASE_SCORE, _BASE_ODDS, _PDO = 600.0, 30.0, 40.0
_GRADES = ((750, "AAA"), (700, "AA"), (650, "A"), (600, "BBB"), (550, "BB"), (500, "B"), (300, "C"))


def pd_to_score(pd_: Any) -> np.ndarray:
    """Probability of default -> 300..900 points (600 at 30:1 odds, +40 per doubling)."""
    p = np.clip(np.asarray(pd_, dtype=float), 1e-6, 1 - 1e-6)
    factor = _PDO / math.log(2)
    score = _BASE_SCORE + factor * (np.log((1 - p) / p) - math.log(_BASE_ODDS))
    return np.asarray(np.clip(np.round(score), 300, 900))


def grade(score: Any) -> np.ndarray:
    s = np.asarray(score, dtype=float)
    out = np.full(s.shape, "C", dtype=object)
    for floor, label in reversed(_GRADES):
        out[s >= floor] = label
    return out


@dataclass
class EnterpriseScoreModel:
    model: Any
    features: tuple[str, ...]
    evaluation: Evaluation
    params: dict[str, Any] = field(default_factory=dict)
    as_of: dt.date | None = None
    version: int | None = None

    def score(self, features: pd.DataFrame) -> pd.DataFrame:
        """Per enterprise (the frame's index): probability of default, 300-900 score and grade."""
        missing = [f for f in self.features if f not in features.columns]
        if missing:
            raise ModelsError(f"feature frame lacks {missing}")
        p = predict_scores(self.model, features[list(self.features)])
        points = pd_to_score(p)
        return pd.DataFrame(
            {"pd": p, "score": points.astype(int), "grade": grade(points)}, index=features.index
        )

    @property
    def lineage(self) -> Lineage:
        sources = sorted({s for f in self.features for s in FEATURE_SOURCES.get(f, ())})
        market = {"supply_chain_payments", "ecommerce_sales", "utility_payment_score", "public_opinion_risk"}
        return Lineage(
            catalog_items=[s for s in sources if s not in market],
            market_datasets=[s for s in sources if s in market],
        )


def train_enterprise_score(
    features: pd.DataFrame,
    loans: pd.DataFrame,
    *,
    label: str = "default",
    id_column: str = "uscc",
    score_features: Sequence[str] = SCORE_FEATURES,
    test_share: float = 0.2,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    as_of: dt.date | None = None,
) -> EnterpriseScoreModel:
    """Train on ``loans`` (one row per loan: enterprise id and outcome) joined to ``features`` (index
    USCC); hold out ``test_share`` of enterprises for the reported AUC/KS."""
    if label not in loans or id_column not in loans:
        raise ModelsError(f"loans need columns {id_column!r} and {label!r}")
    data = loans[[id_column, label]].join(features[list(score_features)], on=id_column, how="inner")
    if data.empty:
        raise ModelsError("no loan matched an enterprise in the feature frame")
    rng = np.random.default_rng(seed)
    ids = data[id_column].unique()
    test_ids = set(rng.choice(ids, size=max(1, round(test_share * len(ids))), replace=False).tolist())
    is_test = data[id_column].isin(test_ids).to_numpy()
    train, test = data[~is_test], data[is_test]
    model = train_lightgbm(train, train[label], features=score_features, params=params, seed=seed)
    evaluation = evaluate(test[label].to_numpy(), predict_scores(model, test))
    return EnterpriseScoreModel(model, tuple(score_features), evaluation, dict(params or {}), as_of)


def register_enterprise_score(
    tracking: Tracking,
    score_model: EnterpriseScoreModel,
    *,
    name: str = SCORE_MODEL_NAME,
    alias: str | None = "production",
    consent_ids: Sequence[str] = (),
    extra_lineage: dict[str, str] | None = None,
) -> RunRecord:
    """Log the run (params, AUC/KS, lineage) and register a new version, pointing ``alias`` at it."""
    lin = score_model.lineage
    lineage = Lineage(
        catalog_items=lin.catalog_items,
        market_datasets=lin.market_datasets,
        consent_ids=consent_ids,
        datasets=extra_lineage or {},
    )
    record = tracking.log_training_run(
        experiment=name,
        model=score_model.model,
        flavor="lightgbm",
        params={
            **score_model.params,
            "features": list(score_model.features),
            "as_of": str(score_model.as_of),
        },
        metrics={
            "auc": score_model.evaluation.auc,
            "ks": score_model.evaluation.ks,
            "test_rows": score_model.evaluation.n,
            "test_positives": score_model.evaluation.positives,
        },
        lineage=lineage,
        register_as=name,
        alias=alias,
    )
    score_model.version = record.version
    return record


def load_enterprise_score(
    tracking: Tracking,
    *,
    name: str = SCORE_MODEL_NAME,
    alias: str | None = "production",
    version: int | None = None,
) -> EnterpriseScoreModel:
    """The registered score model (by alias, explicit version, or latest) ready to ``score()``, with its
    version number and the test AUC/KS it was registered with."""
    loaded = tracking.load(name, alias=alias, version=version)
    features = tuple(getattr(loaded.model, "feature_name_", None) or SCORE_FEATURES)
    metrics = tracking.run(loaded.run_id)["metrics"] if loaded.run_id else {}
    evaluation = Evaluation(
        auc=float(metrics.get("auc", float("nan"))),
        ks=float(metrics.get("ks", float("nan"))),
        n=int(metrics.get("test_rows", 0)),
        positives=int(metrics.get("test_positives", 0)),
    )
    return EnterpriseScoreModel(loaded.model, features, evaluation, version=loaded.version)
