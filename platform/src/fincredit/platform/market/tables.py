"""Tables of purchased market data (G§9, G§14, G§16): vendor contracts and what they allow, the datasets
they cover, the versions a vendor uploaded (Parquet files under ``var_dir/market``), and the lineage of
the platform's own derived products."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fincredit.platform.core.db import Base, UtcDateTime, utcnow
from fincredit.platform.core.db.tables import BigId


class MarketContract(Base):
    """A contract the platform signed with a vendor: which datasets, for which purposes, until when."""

    __tablename__ = "market_contracts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    vendor_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    reference: Mapped[str] = mapped_column(String(100), unique=True)
    derived_products_allowed: Mapped[bool] = mapped_column(Boolean)
    resale_allowed: Mapped[bool] = mapped_column(Boolean)
    starts_on: Mapped[dt.date] = mapped_column(Date)
    expires_on: Mapped[dt.date] = mapped_column(Date)
    annual_fee_cny: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    terminated_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    terminated_reason: Mapped[str | None] = mapped_column(String(200))


class MarketContractPurpose(Base):
    """One purpose (fincredit.consent vocabulary) a contract allows the data to be used for."""

    __tablename__ = "market_contract_purposes"

    contract_id: Mapped[str] = mapped_column(ForeignKey("market_contracts.id"), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(40), primary_key=True)


class MarketDataset(Base):
    __tablename__ = "market_datasets"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    vendor_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class MarketContractDataset(Base):
    __tablename__ = "market_contract_datasets"

    contract_id: Mapped[str] = mapped_column(ForeignKey("market_contracts.id"), primary_key=True)
    dataset_code: Mapped[str] = mapped_column(ForeignKey("market_datasets.code"), primary_key=True)


class MarketDatasetVersion(Base):
    """One upload: the stored Parquet file (path relative to var_dir), its checksum and manifest."""

    __tablename__ = "market_dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_code", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dataset_code: Mapped[str] = mapped_column(ForeignKey("market_datasets.code"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(500))
    manifest_path: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    upload_sha256: Mapped[str] = mapped_column(String(64), index=True)
    row_count: Mapped[int] = mapped_column(Integer)
    matched_count: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    columns_json: Mapped[str] = mapped_column(Text)
    contract_id: Mapped[str] = mapped_column(ForeignKey("market_contracts.id"))
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class DerivedProduct(Base):
    """Something the platform made from its sources (a model, a score, a report template, a feature set)."""

    __tablename__ = "derived_products"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    for_sale: Mapped[bool] = mapped_column(Boolean)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class DerivationSource(Base):
    """One source of a derived product. Append-only: lineage is history, never rewritten."""

    __tablename__ = "derivation_sources"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("derived_products.id"), index=True)
    source_kind: Mapped[str] = mapped_column(String(24))  # market_dataset | catalog_item | derived_product
    source_ref: Mapped[str] = mapped_column(String(100), index=True)
    source_version: Mapped[str | None] = mapped_column(String(32))
    contract_id: Mapped[str | None] = mapped_column(String(40))
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
