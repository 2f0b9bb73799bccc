"""Charges from usage: per-call / per-row / graduated tiers after a free monthly allowance.

Money is Decimal throughout, rounded to fen (0.01) only on statement lines, so a statement is exactly
the sum of its lines and each line exactly the price of its usage."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from fincredit.platform.core.errors import NotFound
from fincredit.platform.metered.billing.tables import Price, PriceBook


def price_for(session: Session, product: str, at: dt.date) -> Price:
    """The price of ``product`` in the price book in force on ``at``."""
    version = session.scalar(
        select(PriceBook.version)
        .where(PriceBook.effective_from <= at)
        .order_by(PriceBook.version.desc())
        .limit(1)
    )
    price = session.get(Price, (version, product)) if version is not None else None
    if price is None:
        raise NotFound(f"no price for product {product!r} on {at.isoformat()}")
    return price


def charge_for(price: Price, units: Decimal) -> Decimal:
    """The charge for ``units`` used in one month (free allowance first)."""
    billable = max(Decimal(0), units - (price.free_units or Decimal(0)))
    if price.model in ("per_call", "per_row"):
        return billable * price.unit_price
    if price.model == "graduated":
        total, lower = Decimal(0), Decimal(0)
        for tier in price.tiers:
            upper = Decimal(str(tier["up_to"])) if tier.get("up_to") is not None else None
            in_tier = billable - lower if upper is None else min(billable, upper) - lower
            if in_tier <= 0:
                break
            total += in_tier * Decimal(str(tier["unit_price"]))
            if upper is None:
                break
            lower = upper
        return total
    raise ValueError(f"unknown price model {price.model!r}")


def marginal_charge(price: Price, used_before: Decimal, units: Decimal) -> Decimal:
    """What ``units`` more cost given ``used_before`` this month (for the credit-limit check)."""
    return charge_for(price, used_before + units) - charge_for(price, used_before)
