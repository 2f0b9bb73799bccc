"""Tables of the metered market services (G§14): products/meters, usage events, price books,
entitlements (quotas) and credit limits. Free public-interest services (G§11) never touch these."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from fincredit.platform.core.db import Base, UtcDateTime, utcnow

Money = Numeric(18, 4)


class Meter(Base):
    """A metered product: what one unit is, and how usage events aggregate (count, sum, unique count)."""

    __tablename__ = "meters"

    product: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(100), unique=True)
    aggregation: Mapped[str] = mapped_column(String(16))  # count | sum | unique_count
    unit: Mapped[str] = mapped_column(String(32))
    unique_property: Mapped[str | None] = mapped_column(String(64))  # for unique_count
    group_by: Mapped[list[str]] = mapped_column(JSON, default=list)


class UsageEvent(Base):
    """A CloudEvents-like usage record. (source, id) is unique: the same event sent twice counts once."""

    __tablename__ = "usage_events"
    __table_args__ = (Index("ix_usage_events_org_product_time", "org_id", "product", "time"),)

    source: Mapped[str] = mapped_column(String(100), primary_key=True)
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    product: Mapped[str] = mapped_column(ForeignKey("meters.product"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    time: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    quantity: Mapped[Decimal] = mapped_column(Money)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class PriceBook(Base):
    __tablename__ = "price_books"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    effective_from: Mapped[dt.date]
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Price(Base):
    """How one product is priced in one price-book version.

    ``model``: per_call or per_row (unit_price × units) or graduated (``tiers``: [{"up_to": n|None,
    "unit_price": "x"}], each tier priced at its own rate). ``free_units`` per month come off first."""

    __tablename__ = "prices"

    version: Mapped[int] = mapped_column(ForeignKey("price_books.version"), primary_key=True)
    product: Mapped[str] = mapped_column(ForeignKey("meters.product"), primary_key=True)
    model: Mapped[str] = mapped_column(String(16))
    unit_price: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    tiers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    free_units: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")


class Entitlement(Base):
    """Whether an institution may use a product, and its monthly quota in units (None: unlimited)."""

    __tablename__ = "entitlements"

    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    product: Mapped[str] = mapped_column(ForeignKey("meters.product"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    monthly_quota: Mapped[Decimal | None] = mapped_column(Money)


class CreditLimit(Base):
    """Monthly spending limit of an institution across all products (402 when a call would pass it)."""

    __tablename__ = "credit_limits"

    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    monthly_limit: Mapped[Decimal] = mapped_column(Money)
