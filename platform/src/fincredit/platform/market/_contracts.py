"""Vendor contracts and the one decision every use of market data goes through (G§9, G§16)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from fincredit.consent.vocabulary import Purpose
from fincredit.platform.core.db import Organisation, utcnow
from fincredit.platform.core.errors import Conflict, InvalidInput, MarketUseRefused, NotFound
from fincredit.platform.identity.kinds import OrgKind
from fincredit.platform.market.tables import (
    MarketContract,
    MarketContractDataset,
    MarketContractPurpose,
    MarketDataset,
)

# Contract dates are calendar dates in China (UTC+8, no daylight saving): a contract that "expires on
# 30 June" still covers a use at 23:30 Beijing time that day.
DATASET_CODE = re.compile(r"[a-z0-9][a-z0-9_\-]{1,62}")
CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


def china_date(at: dt.datetime) -> dt.date:
    if at.tzinfo is None:
        raise ValueError("naive datetime: give an aware UTC time")
    return at.astimezone(CHINA_TZ).date()


@dataclass(frozen=True, slots=True)
class ContractView:
    id: str
    vendor_id: str
    reference: str
    datasets: tuple[str, ...]
    allowed_purposes: tuple[str, ...]
    derived_products_allowed: bool
    resale_allowed: bool
    starts_on: dt.date
    expires_on: dt.date
    annual_fee_cny: Decimal
    terminated_at: dt.datetime | None

    def in_force(self, on: dt.date, at: dt.datetime) -> bool:
        ended = self.terminated_at is not None and self.terminated_at <= at
        return self.starts_on <= on <= self.expires_on and not ended


@dataclass(frozen=True, slots=True)
class MarketUseDecision:
    """Whether ``dataset`` may be used for ``purpose`` at ``at``, and why (``reason`` is a stable slug)."""

    dataset: str
    purpose: str
    at: dt.datetime
    allowed: bool
    reason: str  # allowed | unknown-dataset | no-contract | contract-not-started | contract-expired
    #              | contract-terminated | purpose-not-allowed | resale-not-allowed
    detail: str
    contract: ContractView | None = None

    def raise_if_refused(self) -> None:
        if not self.allowed:
            raise MarketUseRefused(
                self.detail, reason=self.reason, dataset=self.dataset, purpose=self.purpose
            )


def parse_purposes(values: Iterable[str]) -> tuple[str, ...]:
    out = []
    for value in values:
        try:
            out.append(Purpose(value).value)
        except ValueError:
            raise InvalidInput(
                f"unknown purpose {value!r}; one of {[p.value for p in Purpose]}", field="allowed_purposes"
            ) from None
    if not out:
        raise InvalidInput("a contract allows at least one purpose", field="allowed_purposes")
    return tuple(sorted(set(out)))


def _view(session: Session, contract: MarketContract) -> ContractView:
    purposes = session.scalars(
        select(MarketContractPurpose.purpose).where(MarketContractPurpose.contract_id == contract.id)
    )
    datasets = session.scalars(
        select(MarketContractDataset.dataset_code).where(MarketContractDataset.contract_id == contract.id)
    )
    return ContractView(
        id=contract.id,
        vendor_id=contract.vendor_id,
        reference=contract.reference,
        datasets=tuple(sorted(datasets)),
        allowed_purposes=tuple(sorted(purposes)),
        derived_products_allowed=contract.derived_products_allowed,
        resale_allowed=contract.resale_allowed,
        starts_on=contract.starts_on,
        expires_on=contract.expires_on,
        annual_fee_cny=Decimal(contract.annual_fee_cny),
        terminated_at=contract.terminated_at,
    )


@dataclass(frozen=True, slots=True)
class DatasetTerms:
    code: str
    name: str = ""
    description: str = ""


def register_contract(
    session: Session,
    *,
    vendor_id: str,
    reference: str,
    datasets: Sequence[DatasetTerms | str],
    allowed_purposes: Iterable[str],
    derived_products_allowed: bool,
    resale_allowed: bool,
    starts_on: dt.date,
    expires_on: dt.date,
    annual_fee_cny: Decimal | int | float,
    created_by: str,
) -> ContractView:
    """Record a signed contract. Datasets named for the first time are registered as the vendor's."""
    vendor = session.get(Organisation, vendor_id)
    if vendor is None:
        raise NotFound(f"no organisation {vendor_id!r}")
    if vendor.kind != OrgKind.MARKET_VENDOR.value:
        raise InvalidInput(f"organisation {vendor_id!r} is a {vendor.kind}, not a market vendor")
    if expires_on < starts_on:
        raise InvalidInput("a contract cannot expire before it starts")
    if Decimal(str(annual_fee_cny)) < 0:
        raise InvalidInput("the fee cannot be negative")
    if not datasets:
        raise InvalidInput("a contract covers at least one dataset")
    purposes = parse_purposes(allowed_purposes)
    if session.scalar(select(MarketContract.id).where(MarketContract.reference == reference)) is not None:
        raise Conflict(f"contract {reference!r} is already registered")
    contract = MarketContract(
        id="mc_" + uuid.uuid4().hex[:20],
        vendor_id=vendor_id,
        reference=reference,
        derived_products_allowed=derived_products_allowed,
        resale_allowed=resale_allowed,
        starts_on=starts_on,
        expires_on=expires_on,
        annual_fee_cny=Decimal(str(annual_fee_cny)),
        created_by=created_by,
    )
    session.add(contract)
    session.flush()
    for item in datasets:
        terms = DatasetTerms(item) if isinstance(item, str) else item
        if not DATASET_CODE.fullmatch(terms.code):
            # The code names a directory under var_dir/market: nothing that could leave it.
            raise InvalidInput(f"dataset code {terms.code!r}: 2-63 of a-z 0-9 _ -, starting alphanumeric")
        dataset = session.get(MarketDataset, terms.code)
        if dataset is None:
            session.add(
                MarketDataset(
                    code=terms.code,
                    vendor_id=vendor_id,
                    name=terms.name or terms.code,
                    description=terms.description,
                )
            )
            session.flush()
        elif dataset.vendor_id != vendor_id:
            raise Conflict(f"dataset {terms.code!r} belongs to vendor {dataset.vendor_id!r}")
        session.add(MarketContractDataset(contract_id=contract.id, dataset_code=terms.code))
    for purpose in purposes:
        session.add(MarketContractPurpose(contract_id=contract.id, purpose=purpose))
    session.flush()
    return _view(session, contract)


def terminate_contract(
    session: Session, contract_id: str, *, reason: str, at: dt.datetime | None = None
) -> ContractView:
    """End a contract early (breach, vendor ceased trading): from ``at`` its data may not be used."""
    contract = session.get(MarketContract, contract_id)
    if contract is None:
        raise NotFound(f"no contract {contract_id!r}")
    if contract.terminated_at is not None:
        raise Conflict(f"contract {contract.reference!r} was already terminated")
    contract.terminated_at = at or utcnow()
    contract.terminated_reason = reason
    session.flush()
    return _view(session, contract)


def get_contract(session: Session, contract_id: str) -> ContractView:
    contract = session.get(MarketContract, contract_id)
    if contract is None:
        raise NotFound(f"no contract {contract_id!r}")
    return _view(session, contract)


def list_contracts(session: Session, *, vendor_id: str | None = None) -> list[ContractView]:
    q = select(MarketContract).order_by(MarketContract.created_at, MarketContract.id)
    if vendor_id is not None:
        q = q.where(MarketContract.vendor_id == vendor_id)
    return [_view(session, c) for c in session.scalars(q)]


def contracts_for_dataset(session: Session, dataset: str) -> list[ContractView]:
    q = (
        select(MarketContract)
        .join(MarketContractDataset, MarketContractDataset.contract_id == MarketContract.id)
        .where(MarketContractDataset.dataset_code == dataset)
        .order_by(MarketContract.expires_on.desc(), MarketContract.id)
    )
    return [_view(session, c) for c in session.scalars(q)]


def contract_in_force(session: Session, dataset: str, at: dt.datetime) -> ContractView | None:
    """The contract covering ``dataset`` at ``at`` that runs longest, whatever purposes it allows."""
    on = china_date(at)
    return next((c for c in contracts_for_dataset(session, dataset) if c.in_force(on, at)), None)


def check_market_use(
    session: Session,
    dataset: str,
    purpose: Purpose | str | None,
    at: dt.datetime | None = None,
    *,
    disclose: bool = False,
) -> MarketUseDecision:
    """The decision every use of market data goes through: is a contract in force at ``at`` that covers
    ``dataset`` and allows ``purpose`` (``None``: any purpose)? With ``disclose`` the raw values leave
    the platform (shown to a bank, not just used in a model or a score): that is resale, and the
    contract must also grant the resale right. Refusals name the reason so the caller can say why."""
    at = at or utcnow()
    purpose_value = "" if purpose is None else str(purpose)

    def refuse(reason: str, detail: str, contract: ContractView | None = None) -> MarketUseDecision:
        return MarketUseDecision(dataset, purpose_value, at, False, reason, detail, contract)

    if session.get(MarketDataset, dataset) is None:
        return refuse("unknown-dataset", f"no market dataset {dataset!r}")
    try:
        if purpose is not None:
            Purpose(purpose_value)
    except ValueError:
        return refuse("purpose-not-allowed", f"{purpose_value!r} is not a purpose of the consent vocabulary")
    contracts = contracts_for_dataset(session, dataset)
    if not contracts:
        return refuse("no-contract", f"no contract covers dataset {dataset!r}")
    on = china_date(at)
    in_force = [c for c in contracts if c.in_force(on, at)]
    for_purpose = [c for c in in_force if purpose is None or purpose_value in c.allowed_purposes]
    for contract in for_purpose:
        if not disclose or contract.resale_allowed:
            return MarketUseDecision(
                dataset,
                purpose_value,
                at,
                True,
                "allowed",
                f"allowed by contract {contract.reference}",
                contract,
            )
    if for_purpose:
        return refuse(
            "resale-not-allowed",
            f"contract {for_purpose[0].reference} allows {dataset!r} for {purpose_value or 'use'} inside the "
            "platform only: its raw values may not be passed on",
            for_purpose[0],
        )
    if in_force:
        allowed = sorted({p for c in in_force for p in c.allowed_purposes})
        return refuse(
            "purpose-not-allowed",
            f"the contract for {dataset!r} does not allow {purpose_value!r} (allowed: {', '.join(allowed)})",
            in_force[0],
        )
    terminated = [c for c in contracts if c.terminated_at is not None and c.terminated_at <= at]
    expired = [c for c in contracts if c.expires_on < on and c not in terminated]
    if expired:
        latest = max(expired, key=lambda c: c.expires_on)
        return refuse(
            "contract-expired",
            f"contract {latest.reference} for {dataset!r} expired on {latest.expires_on.isoformat()}: "
            "its data may no longer be used",
            latest,
        )
    if terminated:
        return refuse(
            "contract-terminated",
            f"contract {terminated[0].reference} for {dataset!r} was terminated",
            terminated[0],
        )
    first = min(contracts, key=lambda c: c.starts_on)
    return refuse(
        "contract-not-started",
        f"contract {first.reference} for {dataset!r} starts on {first.starts_on.isoformat()}",
        first,
    )
