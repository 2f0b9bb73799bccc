"""The loans component and the known risk model (see the package docstring): which enterprises borrow
from which bank, the bank's own view of them, and whether the loan defaults."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fincredit.models.synthetic._common import date_array, sigmoid, to_days
from fincredit.models.synthetic._subjects import Enterprises

BANKS: dict[str, str] = {
    "B-NBCB": "宁波银行股份有限公司",
    "B-YZB": "宁波鄞州农村商业银行股份有限公司",
    "B-TSB": "宁波通商银行股份有限公司",
    "B-ICBC": "中国工商银行股份有限公司宁波市分行",
    "B-ABC": "中国农业银行股份有限公司宁波市分行",
    "B-CZB": "浙商银行股份有限公司宁波分行",
}
COLLATERAL_TYPES = ("none", "guarantee", "real_estate", "receivables", "equipment")
BANK_FEATURES: tuple[str, ...] = (
    "loan_amount",
    "term_months",
    "interest_rate",
    "collateral_real_estate",
    "collateral_none",
    "relationship_months",
    "past_overdue_count",
    "existing_loans",
    "deposit_avg_balance",
)

# Correlation of the bank's private view of a borrower (its relationship history) with the hidden
# quality z; the rest of that view is information only the bank has.
BANK_VIEW_WEIGHT = 0.35
LOAN_INTERCEPT = -3.65
LOAN_LATENT_COEF = -0.35
# Idiosyncratic shocks (a key customer lost, a fire) that no data source sees: N(0, sd) on the logit.
LOAN_SHOCK_SD = 1.0
LOAN_BANK_COEFS: dict[str, float] = {
    "past_overdue_count": 0.5,
    "log_relationship_years": -0.25,
    "collateral_none": 0.35,
    "collateral_real_estate": -0.35,
    "log_loan_to_deposit": 0.20,
    "rate_spread": 0.6,
    "term_long": 0.20,
}
LOAN_PUBLIC_COEFS: dict[str, float] = {
    "dishonest_debtor_active": 1.0,
    "legal_rep_dishonest_active": 0.6,
    "social_insurance_arrears_open": 0.6,
    "housing_fund_arrears_open": 0.4,
    "utility_arrears_count_2y": 0.25,
    "penalty_count_3y": 0.2,
    "judgment_defendant_count_3y": 0.2,
    "tax_rating_latest": -0.25,
    "status_abnormal": 1.0,
    "high_tech": -0.3,
}
LOAN_MARKET_COEFS: dict[str, float] = {
    "scf_on_time_ratio": -2.2,
    "utility_payment_score": -0.0045,
    "news_risk_score": 0.018,
}
# Continuous features enter the logit centred on roughly their population average, and a missing
# value (a firm a vendor does not cover, no tax rating yet) takes that average, so absence carries no
# signal by itself. Counts and flags enter as they are.
LOAN_FEATURE_CENTRES: dict[str, float] = {
    "tax_rating_latest": 2.8,
    "scf_on_time_ratio": 0.9,
    "utility_payment_score": 620.0,
    "news_risk_score": 22.0,
}


def draw_loans(
    rng: np.random.Generator, e: Enterprises, as_of: dt.date, loan_share: float, features: pd.DataFrame
) -> tuple[pa.Table, dict[str, float]]:
    """The loans component: ``loan_share`` of the live enterprises apply for one loan each, which defaults
    by the known risk model; returns the loan table and the generating model's oracle AUC and default rate."""
    z, t = e.z, to_days(as_of)
    alive = np.flatnonzero(e.status < 2)
    k = min(len(alive), max(1, round(loan_share * len(alive))))
    idx = np.sort(rng.choice(alive, size=k, replace=False)) if k else alive
    m = len(idx)
    zi = z[idx]
    age_months = (t - e.reg_day[idx]) / 30.44
    relationship = np.minimum(age_months, rng.exponential(36, m)).astype(np.int64)
    # The bank's own view of the borrower: its history with them, correlated with z.
    bank_view = BANK_VIEW_WEIGHT * zi + np.sqrt(1 - BANK_VIEW_WEIGHT**2) * rng.normal(size=m)
    overdue = rng.poisson(0.35 * np.exp(-0.8 * bank_view) * np.minimum(1.0, relationship / 24 + 0.2))
    existing = rng.poisson(1.0, m)
    deposit = np.round(
        np.exp(0.6 * np.log(e.capital[idx]) + 0.35 * bank_view + rng.normal(0, 0.7, m)) * 1.0, 2
    )
    amount = np.round(
        np.clip(np.exp(0.7 * np.log(e.capital[idx]) + 1.0 + rng.normal(0, 0.6, m)), 10, 5000), 0
    )
    term = np.array([6, 12, 24, 36, 60])[rng.choice(5, size=m, p=[0.15, 0.45, 0.2, 0.12, 0.08])]
    collateral = rng.choice(len(COLLATERAL_TYPES), size=m, p=[0.35, 0.25, 0.25, 0.1, 0.05])
    spread = np.clip(1.3 - 0.45 * bank_view - 0.4 * (collateral == 2) + rng.normal(0, 0.3, m), 0.0, 4.5)
    rate = np.round(3.45 + spread, 2)  # one-year LPR plus the bank's risk spread
    bank_terms = {
        "past_overdue_count": overdue.astype(float),
        "log_relationship_years": np.log1p(relationship / 12.0),
        "collateral_none": (collateral == 0).astype(float),
        "collateral_real_estate": (collateral == 2).astype(float),
        "log_loan_to_deposit": np.log((amount + 1) / (deposit + 1)),
        "rate_spread": spread,
        "term_long": (term >= 36).astype(float),
    }
    feats = features.iloc[idx]
    logit = np.full(m, LOAN_INTERCEPT) + LOAN_LATENT_COEF * zi
    for name, coef in LOAN_BANK_COEFS.items():
        logit += coef * bank_terms[name]
    for name, coef in {**LOAN_PUBLIC_COEFS, **LOAN_MARKET_COEFS}.items():
        values = feats[name].to_numpy(dtype=float)
        centre = LOAN_FEATURE_CENTRES.get(name, 0.0)
        values = np.where(np.isnan(values), centre, values) - centre
        logit += coef * values
    p = sigmoid(logit)
    default = rng.random(m) < sigmoid(logit + rng.normal(0, LOAN_SHOCK_SD, m))
    apply_day = t + rng.integers(1, 91, size=m)
    banks = np.array(list(BANKS))
    loan_ids = pc.binary_join_element_wise(
        "L", pc.utf8_lpad(pc.cast(pa.array(np.arange(m)), pa.string()), 9, "0"), ""
    )
    table = pa.table(
        {
            "loan_id": loan_ids,
            "bank_id": pa.array(banks[rng.integers(0, len(banks), size=m)].tolist(), pa.string()),
            "uscc": e.uscc.take(pa.array(idx)),
            "apply_date": date_array(apply_day),
            "loan_amount": pa.array(amount),
            "term_months": pa.array(term.astype(np.int32)),
            "interest_rate": pa.array(rate),
            "collateral_type": pa.array(COLLATERAL_TYPES).take(pa.array(collateral)),
            "collateral_real_estate": pa.array((collateral == 2).astype(np.int8)),
            "collateral_none": pa.array((collateral == 0).astype(np.int8)),
            "relationship_months": pa.array(relationship.astype(np.int32)),
            "past_overdue_count": pa.array(overdue.astype(np.int32)),
            "existing_loans": pa.array(existing.astype(np.int32)),
            "deposit_avg_balance": pa.array(deposit),
            "default_probability": pa.array(np.round(p, 6)),
            "default": pa.array(default),
        }
    )
    return table, {"oracle_auc": _auc(default, p), "default_rate": float(default.mean()) if m else 0.0}


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    from fincredit.models.evaluation import auc

    return auc(y, score) if 0 < y.sum() < len(y) else float("nan")
