"""Tables of the metered market products (G§14): platform credit scores served (with the model
version), and data product trading — listings with licence terms and purchases with their provenance."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fincredit.platform.core.db import Base, UtcDateTime, utcnow
from fincredit.platform.core.db.tables import BigId


class CreditScoreResult(Base):
    """One enterprise scored for one institution: the score, the model version that produced it, the
    consent ledger entry of the disclosure and the usage event that billed it."""

    __tablename__ = "credit_score_results"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    account_id: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(40))
    model_name: Mapped[str] = mapped_column(String(100))
    model_version: Mapped[int] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(Integer)
    grade: Mapped[str] = mapped_column(String(4))
    pd: Mapped[float] = mapped_column(Float)
    ledger_seq: Mapped[int | None] = mapped_column(BigInteger)
    usage_event_id: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class DataProductListing(Base):
    """A data product for sale: a Parquet file derived from purchased market data (its lineage is the
    market ``derived_products`` row), its licence terms, price, delivery modes and its own meter."""

    __tablename__ = "data_product_listings"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    seller_org_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    derived_product_id: Mapped[str] = mapped_column(String(40))
    meter_product: Mapped[str] = mapped_column(String(64), unique=True)
    price: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    # {"purposes": [...], "licence_days": n, "redistribution": bool, "text": "..."}
    licence: Mapped[dict[str, Any]] = mapped_column(JSON)
    delivery: Mapped[list[str]] = mapped_column(JSON)  # file | api
    file_name: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class DataProductPurchase(Base):
    """An institution's purchase: licence in force until ``expires_at``, delivered as the file or through
    an API key (only its SHA-256 is kept), billed by one usage event."""

    __tablename__ = "data_product_purchases"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    listing_id: Mapped[str] = mapped_column(ForeignKey("data_product_listings.id"), index=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    account_id: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(40))
    price: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    delivery: Mapped[str] = mapped_column(String(8))
    api_key_sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    provenance: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    usage_event_id: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
