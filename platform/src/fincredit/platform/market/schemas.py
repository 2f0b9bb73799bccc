"""API models of market data: contracts, datasets, versions, derived products."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, Field

from fincredit.consent.vocabulary import Purpose
from fincredit.platform.core.schemas import Strict
from fincredit.platform.market import (
    ContractView,
    DatasetVersionView,
    MarketUseDecision,
    ProductView,
    UsableDataset,
)


class DatasetTermsIn(Strict):
    code: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]{1,62}$")
    name: str = Field("", max_length=200)
    description: str = Field("", max_length=2000)


class ContractIn(Strict):
    vendor_id: str = Field(max_length=64)
    reference: str = Field(min_length=1, max_length=100, description="the signed contract's number")
    datasets: list[DatasetTermsIn] = Field(min_length=1, max_length=50)
    allowed_purposes: list[Purpose] = Field(min_length=1)
    derived_products_allowed: bool = False
    resale_allowed: bool = False
    starts_on: dt.date
    expires_on: dt.date
    annual_fee_cny: Decimal = Field(ge=0, max_digits=14, decimal_places=2)


class ContractOut(BaseModel):
    id: str
    vendor_id: str
    reference: str
    datasets: list[str]
    allowed_purposes: list[str]
    derived_products_allowed: bool
    resale_allowed: bool
    starts_on: dt.date
    expires_on: dt.date
    annual_fee_cny: Decimal
    terminated_at: dt.datetime | None

    @classmethod
    def of(cls, c: ContractView) -> ContractOut:
        return cls(
            id=c.id,
            vendor_id=c.vendor_id,
            reference=c.reference,
            datasets=list(c.datasets),
            allowed_purposes=list(c.allowed_purposes),
            derived_products_allowed=c.derived_products_allowed,
            resale_allowed=c.resale_allowed,
            starts_on=c.starts_on,
            expires_on=c.expires_on,
            annual_fee_cny=c.annual_fee_cny,
            terminated_at=c.terminated_at,
        )


class TerminateIn(Strict):
    reason: str = Field(min_length=1, max_length=200)


class DecisionOut(BaseModel):
    allowed: bool
    reason: str
    detail: str
    contract_id: str | None
    contract_reference: str | None
    derived_products_allowed: bool | None
    resale_allowed: bool | None

    @classmethod
    def of(cls, d: MarketUseDecision) -> DecisionOut:
        c = d.contract
        return cls(
            allowed=d.allowed,
            reason=d.reason,
            detail=d.detail,
            contract_id=c.id if c else None,
            contract_reference=c.reference if c else None,
            derived_products_allowed=c.derived_products_allowed if c else None,
            resale_allowed=c.resale_allowed if c else None,
        )


class DatasetOut(BaseModel):
    code: str
    name: str
    vendor_id: str
    description: str
    latest_version: int | None
    use: DecisionOut

    @classmethod
    def of(cls, d: UsableDataset) -> DatasetOut:
        return cls(
            code=d.code,
            name=d.name,
            vendor_id=d.vendor_id,
            description=d.description,
            latest_version=d.latest_version,
            use=DecisionOut.of(d.decision),
        )


class DatasetVersionOut(BaseModel):
    dataset: str
    vendor_id: str
    version: int
    path: str
    sha256: str
    row_count: int
    matched_count: int
    size_bytes: int
    columns: dict[str, str]
    provenance_columns: list[str]
    contract_id: str
    uploaded_by: str
    uploaded_at: dt.datetime
    created: bool

    @classmethod
    def of(cls, v: DatasetVersionView, provenance: tuple[str, ...]) -> DatasetVersionOut:
        return cls(
            dataset=v.dataset,
            vendor_id=v.vendor_id,
            version=v.version,
            path=v.path,
            sha256=v.sha256,
            row_count=v.row_count,
            matched_count=v.matched_count,
            size_bytes=v.size_bytes,
            columns=v.columns,
            provenance_columns=list(provenance),
            contract_id=v.contract_id,
            uploaded_by=v.uploaded_by,
            uploaded_at=v.uploaded_at,
            created=v.created,
        )


class SourceIn(Strict):
    kind: str = Field(pattern="^(market_dataset|catalog_item|derived_product)$")
    ref: str = Field(max_length=100)
    version: str | None = Field(None, max_length=32)


class DerivedProductIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(min_length=1, max_length=32, description="model, score, report, feature_set, ...")
    for_sale: bool = False
    purpose: Purpose | None = None
    sources: list[SourceIn] = Field(min_length=1, max_length=100)


class SourceOut(BaseModel):
    kind: str
    ref: str
    version: str | None
    contract_id: str | None
    via: str | None


class DerivedProductOut(BaseModel):
    id: str
    name: str
    kind: str
    for_sale: bool
    created_by: str
    created_at: dt.datetime
    sources: list[SourceOut]
    may_sell: bool | None = None
    may_sell_detail: str | None = None

    @classmethod
    def of(cls, p: ProductView, may_sell: tuple[bool, str] | None = None) -> DerivedProductOut:
        return cls(
            id=p.id,
            name=p.name,
            kind=p.kind,
            for_sale=p.for_sale,
            created_by=p.created_by,
            created_at=p.created_at,
            sources=[
                SourceOut(kind=s.kind, ref=s.ref, version=s.version, contract_id=s.contract_id, via=s.via)
                for s in p.sources
            ],
            may_sell=may_sell[0] if may_sell else None,
            may_sell_detail=may_sell[1] if may_sell else None,
        )
