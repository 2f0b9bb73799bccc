"""The metered products and the first price book, seeded at start (idempotent)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from fincredit.platform.metered.billing.tables import Meter, Price, PriceBook

# product, name, event type, aggregation, unit
DEFAULT_METERS: list[tuple[str, str, str, str, str]] = [
    (
        "market.credit_score",
        "Enterprise credit score (platform model)",
        "fincredit.credit_score.scored",
        "sum",
        "enterprise",
    ),
    ("market.premium_dataset", "Premium dataset rows", "fincredit.premium_dataset.rows", "sum", "row"),
    (
        "market.joint_modelling",
        "Joint-modelling lab training job",
        "fincredit.joint_modelling.job",
        "count",
        "job",
    ),
    (
        "market.encrypted_scoring",
        "Encrypted scoring",
        "fincredit.encrypted_scoring.applicant",
        "sum",
        "applicant",
    ),
    ("market.data_product", "Data product purchase", "fincredit.data_product.purchase", "count", "purchase"),
]

# product -> (model, unit price, tiers, free units per month)
DEFAULT_PRICES: dict[str, tuple[str, str, list[dict[str, str | None]], str]] = {
    "market.credit_score": ("per_call", "0.50", [], "100"),
    "market.premium_dataset": ("per_row", "0.02", [], "0"),
    "market.joint_modelling": ("per_call", "200.00", [], "1"),
    "market.encrypted_scoring": (
        "graduated",
        "0",
        [{"up_to": "10000", "unit_price": "0.05"}, {"up_to": None, "unit_price": "0.02"}],
        "1000",
    ),
    "market.data_product": ("per_call", "0", [], "0"),  # priced per listing when purchased
}


def seed_defaults(session: Session) -> None:
    have = set(session.scalars(select(Meter.product)))
    for product, name, event_type, aggregation, unit in DEFAULT_METERS:
        if product not in have:
            session.add(
                Meter(
                    product=product,
                    name=name,
                    event_type=event_type,
                    aggregation=aggregation,
                    unit=unit,
                    group_by=[],
                )
            )
    session.flush()
    if session.scalar(select(PriceBook.version).limit(1)) is None:
        session.add(PriceBook(version=1, effective_from=dt.date(2026, 1, 1), note="initial price book"))
        session.flush()
        for product, (model, unit_price, tiers, free) in DEFAULT_PRICES.items():
            session.add(
                Price(
                    version=1,
                    product=product,
                    model=model,
                    unit_price=Decimal(unit_price),
                    tiers=tiers,
                    free_units=Decimal(free),
                    currency="CNY",
                )
            )
