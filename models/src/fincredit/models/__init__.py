"""fincredit.models: synthetic city data, SBA loader, features, training, evaluation, MLflow registry.

Heavy modules (LightGBM, MLflow, matplotlib) load on first use of their names, so importing the
package for the catalog types or the generator stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from fincredit.models.catalog_spec import (
    CatalogItemSpec,
    CatalogSpec,
    FieldSpec,
    MarketDatasetSpec,
    ProviderSpec,
    VendorSpec,
    load_catalog,
    parse_catalog,
)
from fincredit.models.errors import (
    CatalogSpecError,
    DatasetNotInstalledError,
    FeatureError,
    ModelNotFoundError,
    ModelsError,
    SyntheticDataError,
)

_LAZY = {
    "City": "synthetic",
    "generate_city": "synthetic",
    "write_city": "synthetic",
    "load_city": "synthetic",
    "BANK_FEATURES": "synthetic",
    "enterprise_features": "features",
    "PUBLIC_FEATURES": "features",
    "MARKET_FEATURES": "features",
    "FEATURE_SOURCES": "features",
    "load_sba": "sba",
    "vertical_split": "sba",
    "train_test_split_fixed": "sba",
    "auc": "evaluation",
    "ks": "evaluation",
    "evaluate": "evaluation",
    "Evaluation": "evaluation",
    "roc_curve_points": "evaluation",
    "ks_curve": "evaluation",
    "plot_roc": "evaluation",
    "plot_ks": "evaluation",
    "train_lightgbm": "training",
    "train_logistic": "training",
    "predict_scores": "training",
    "compare_bank_vs_joint": "training",
    "Comparison": "training",
    "Tracking": "tracking",
    "Lineage": "tracking",
    "LoadedModel": "tracking",
    "RunRecord": "tracking",
    "EnterpriseScoreModel": "credit_score",
    "train_enterprise_score": "credit_score",
    "register_enterprise_score": "credit_score",
    "load_enterprise_score": "credit_score",
    "pd_to_score": "credit_score",
    "SCORE_MODEL_NAME": "credit_score",
}

__all__ = [
    "CatalogItemSpec",
    "CatalogSpec",
    "CatalogSpecError",
    "DatasetNotInstalledError",
    "FeatureError",
    "FieldSpec",
    "MarketDatasetSpec",
    "ModelNotFoundError",
    "ModelsError",
    "ProviderSpec",
    "SyntheticDataError",
    "VendorSpec",
    "load_catalog",
    "parse_catalog",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fincredit.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"fincredit.models.{module}"), name)
    globals()[name] = value
    return value
