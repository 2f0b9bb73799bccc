"""A seeded synthetic Ningbo: enterprises, persons, provider submissions, market data, bank loans.

Everything is drawn from one ``numpy`` generator per component (spawned from the seed), vectorised,
and returned as Arrow tables, so a given ``(seed, n_enterprises, ...)`` always produces the same city.

Each enterprise has a hidden quality ``z ~ N(0, 1)``, built partly from its age and capital, that
drives how often it shows up in negative public records (penalties, arrears, judgments, dishonest
debtor lists), its tax and customs ratings, and its market signals (supply-chain payment punctuality,
utility payment score, news risk). The bank sees ``z`` only through its own relationship data.

**The loan default model (the "known" risk model).** A loan defaults with probability
``sigmoid(logit)`` where ::

    logit = LOAN_INTERCEPT
          + Σ LOAN_BANK_COEFS[f]   · bank_feature[f]
          + Σ LOAN_PUBLIC_COEFS[f] · public_feature[f]      (from fincredit.models.features)
          + Σ LOAN_MARKET_COEFS[f] · market_feature[f]
            (continuous features minus LOAN_FEATURE_CENTRES[f]; NaN counts as the centre)
          + LOAN_LATENT_COEF · z                            (what nobody observes)
          + ε,  ε ~ N(0, LOAN_SHOCK_SD)                     (idiosyncratic shocks)

The bank terms are functions of the loan table's columns: ``past_overdue_count``,
``log_relationship_years = log1p(relationship_months / 12)``, ``collateral_none``,
``collateral_real_estate``, ``log_loan_to_deposit = log((loan_amount + 1) / (deposit_avg_balance + 1))``,
``rate_spread = interest_rate - 3.45`` (the bank prices its own view of the borrower into the spread
over the one-year LPR) and ``term_long = term_months >= 36``. Public and market features are
computed by ``features.enterprise_features`` on the clean records as of ``as_of`` (loans are applied
for in the 90 days after it), so a model trained on the same features can recover the signal.

Measured on 20,000 loans (80/20 split, LightGBM): bank-only AUC about 0.70, platform-only (public +
market, the platform's own score) about 0.76, joint about 0.80; default rate about 16%. The bank's
features carry information of their own (``BANK_VIEW_WEIGHT``: its view of the borrower is only
partly the quality the public records reflect), so the joint model beats both sides alone.
``manifest.json`` records the coefficients and the "oracle" AUC of the generating logit without ε
(about 0.81), which no model can beat by more than sampling noise.
"""

from fincredit.models.synthetic._city import City, generate_city
from fincredit.models.synthetic._common import DEFAULT_AS_OF
from fincredit.models.synthetic._files import load_city, main, write_city
from fincredit.models.synthetic._loans import (
    BANK_FEATURES,
    BANK_VIEW_WEIGHT,
    BANKS,
    LOAN_BANK_COEFS,
    LOAN_FEATURE_CENTRES,
    LOAN_INTERCEPT,
    LOAN_LATENT_COEF,
    LOAN_MARKET_COEFS,
    LOAN_PUBLIC_COEFS,
    LOAN_SHOCK_SD,
)

__all__ = [
    "BANKS",
    "BANK_FEATURES",
    "BANK_VIEW_WEIGHT",
    "DEFAULT_AS_OF",
    "LOAN_BANK_COEFS",
    "LOAN_FEATURE_CENTRES",
    "LOAN_INTERCEPT",
    "LOAN_LATENT_COEF",
    "LOAN_MARKET_COEFS",
    "LOAN_PUBLIC_COEFS",
    "LOAN_SHOCK_SD",
    "City",
    "generate_city",
    "load_city",
    "main",
    "write_city",
]
