"""Metered market products (G§14): the platform's enterprise credit score (LightGBM from
``fincredit.models``, registered in MLflow, served with its version), premium datasets from purchased
market data, and data product trading. Everything here is metered through
``fincredit.platform.metered.billing`` in the transaction that does the work; the free services (G§11) never
import this package."""

from fincredit.platform.metered.products._premium import PremiumRows, market_scope, premium_rows
from fincredit.platform.metered.products._score import SCOPES as SCORE_SCOPES
from fincredit.platform.metered.products._score import (
    ScoreCall,
    score_enterprises,
    score_model,
    train_and_register,
)
from fincredit.platform.metered.products._trading import (
    GATE_PRODUCT,
    MIN_GROUP,
    Purchase,
    aggregate,
    create_listing,
    get_listing,
    listing_view,
    own_purchase,
    product_file,
    product_rows,
    purchase,
    purchase_by_api_key,
)

__all__ = [
    "GATE_PRODUCT",
    "MIN_GROUP",
    "SCORE_SCOPES",
    "PremiumRows",
    "Purchase",
    "ScoreCall",
    "aggregate",
    "create_listing",
    "get_listing",
    "listing_view",
    "market_scope",
    "own_purchase",
    "premium_rows",
    "product_file",
    "product_rows",
    "purchase",
    "purchase_by_api_key",
    "score_enterprises",
    "score_model",
    "train_and_register",
]
