"""Metering and billing of the market-oriented services (G§14), in the manner of OpenMeter and Lago:
meters over idempotent usage events, a versioned price book, quotas and credit limits enforced before
the work, and monthly statements that reconcile exactly with the raw events.

Only metered routes import this package; the free public-interest services (G§11) never do."""

from fincredit.platform.metered.billing.catalog import DEFAULT_METERS, DEFAULT_PRICES, seed_defaults
from fincredit.platform.metered.billing.enforcement import (
    Usage,
    ensure_allowed,
    month_to_date,
    record_usage,
    record_usages,
    spent_this_month,
)
from fincredit.platform.metered.billing.pricing import charge_for, marginal_charge
from fincredit.platform.metered.billing.statements import (
    Statement,
    StatementLine,
    build_statement,
    period_bounds,
    regulator_totals,
)

__all__ = [
    "DEFAULT_METERS",
    "DEFAULT_PRICES",
    "Statement",
    "StatementLine",
    "Usage",
    "build_statement",
    "charge_for",
    "ensure_allowed",
    "marginal_charge",
    "month_to_date",
    "period_bounds",
    "record_usage",
    "record_usages",
    "regulator_totals",
    "seed_defaults",
    "spent_this_month",
]
