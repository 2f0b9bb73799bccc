"""Market data over HTTP: the operator registers vendor contracts, vendors upload dataset versions,
banks and the operator list the datasets they may use for a purpose, derived products record lineage."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from fincredit.consent.vocabulary import Purpose
from fincredit.platform.core.deps import ServicesDep, require
from fincredit.platform.core.errors import Forbidden, MarketDataInvalid
from fincredit.platform.identity.principal import Principal
from fincredit.platform.market import (
    PROVENANCE_COLUMNS,
    DatasetTerms,
    Source,
    datasets_for_purpose,
    get_contract,
    list_contracts,
    list_versions,
    may_sell,
    product_lineage,
    record_derivation,
    register_contract,
    terminate_contract,
    upload_dataset_version,
)
from fincredit.platform.market.schemas import (
    ContractIn,
    ContractOut,
    DatasetOut,
    DatasetVersionOut,
    DerivedProductIn,
    DerivedProductOut,
    TerminateIn,
)

router = APIRouter(prefix="/api/v1/market", tags=["market data"])


def _sees_everything(principal: Principal) -> bool:
    """The operator and supervisors see every vendor's contracts; a vendor only its own."""
    return principal.org_kind != "market_vendor"


@router.post("/contracts", response_model=ContractOut, status_code=201)
def create_contract(
    body: ContractIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("market_contracts", "write"))],
) -> ContractOut:
    """Register a contract signed with a vendor: datasets covered, allowed purposes, rights, term, fee."""
    with services.tx() as session:
        contract = register_contract(
            session,
            vendor_id=body.vendor_id,
            reference=body.reference,
            datasets=[DatasetTerms(d.code, d.name, d.description) for d in body.datasets],
            allowed_purposes=[p.value for p in body.allowed_purposes],
            derived_products_allowed=body.derived_products_allowed,
            resale_allowed=body.resale_allowed,
            starts_on=body.starts_on,
            expires_on=body.expires_on,
            annual_fee_cny=body.annual_fee_cny,
            created_by=principal.account_id,
        )
        return ContractOut.of(contract)


@router.get("/contracts", response_model=list[ContractOut])
def contracts(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("market_contracts", "read"))],
    vendor_id: Annotated[str | None, Query(max_length=64)] = None,
) -> list[ContractOut]:
    if not _sees_everything(principal):
        vendor_id = principal.org_id
    with services.read() as session:
        return [ContractOut.of(c) for c in list_contracts(session, vendor_id=vendor_id)]


@router.get("/contracts/{contract_id}", response_model=ContractOut)
def contract(
    contract_id: str,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("market_contracts", "read"))],
) -> ContractOut:
    with services.read() as session:
        c = get_contract(session, contract_id)
    if not _sees_everything(principal) and c.vendor_id != principal.org_id:
        raise Forbidden("this contract belongs to another vendor")
    return ContractOut.of(c)


@router.post("/contracts/{contract_id}/terminate", response_model=ContractOut)
def terminate(
    contract_id: str,
    body: TerminateIn,
    services: ServicesDep,
    _: Annotated[Principal, Depends(require("market_contracts", "write"))],
) -> ContractOut:
    """End a contract early: from now on its datasets may not be used for anything."""
    with services.tx() as session:
        return ContractOut.of(terminate_contract(session, contract_id, reason=body.reason))


@router.get("/datasets", response_model=list[DatasetOut])
def datasets(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("market_datasets", "read"))],
    purpose: Annotated[Purpose | None, Query(description="only datasets usable for this purpose")] = None,
    at: Annotated[dt.datetime | None, Query(description="when (default now); ISO 8601 with zone")] = None,
    include_refused: Annotated[bool, Query(description="also list datasets that may not be used")] = False,
    disclose: Annotated[
        bool, Query(description="the raw values would be shown outside the platform (needs resale right)")
    ] = False,
) -> list[DatasetOut]:
    """The datasets the caller may use for ``purpose`` (any purpose if omitted), with the contract that
    allows it, or with the refusal reason when ``include_refused``. A vendor sees its own datasets."""
    if at is not None and at.tzinfo is None:
        raise MarketDataInvalid("give 'at' with a time zone, e.g. 2026-07-01T09:00:00+08:00")
    vendor = None if _sees_everything(principal) else principal.org_id
    with services.read() as session:
        found = datasets_for_purpose(
            session,
            purpose.value if purpose else None,
            at,
            include_refused=include_refused or vendor is not None,
            vendor_id=vendor,
            disclose=disclose,
        )
        return [DatasetOut.of(d) for d in found]


@router.get("/datasets/{code}/versions", response_model=list[DatasetVersionOut])
def versions(
    code: str,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("market_datasets", "read"))],
) -> list[DatasetVersionOut]:
    """Every stored version with its checksum, row counts, columns and the contract it arrived under."""
    with services.read() as session:
        found = list_versions(session, code)
    if found and not _sees_everything(principal) and found[0].vendor_id != principal.org_id:
        raise Forbidden("this dataset belongs to another vendor")
    return [DatasetVersionOut.of(v, PROVENANCE_COLUMNS) for v in found]


@router.post("/datasets/{code}/versions", response_model=DatasetVersionOut, status_code=201)
async def upload_version(
    code: str,
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("market_datasets", "upload"))],
) -> DatasetVersionOut:
    """A vendor uploads a new version of one of its datasets: the request body is a Parquet file with
    at least ``record_id`` (the vendor's record key) and ``uscc`` columns. Streamed to disk, never held
    in memory; the same file uploaded twice creates no second version (``created: false``)."""
    if principal.org_id is None:
        raise Forbidden("only a vendor's institution account uploads datasets")
    incoming = services.settings.var_dir / "market" / ".incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=incoming, suffix=".parquet")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            async for chunk in request.stream():
                f.write(chunk)

        def store() -> DatasetVersionOut:
            with services.tx() as session:
                v = upload_dataset_version(
                    session,
                    services.keyring,
                    services.settings.var_dir,
                    dataset=code,
                    source=path,
                    vendor_id=str(principal.org_id),
                    uploaded_by=principal.account_id,
                )
                return DatasetVersionOut.of(v, PROVENANCE_COLUMNS)

        return await run_in_threadpool(store)
    finally:
        path.unlink(missing_ok=True)


@router.post("/derived-products", response_model=DerivedProductOut, status_code=201)
def create_derived_product(
    body: DerivedProductIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("derived_products", "write"))],
) -> DerivedProductOut:
    """Record a product the platform derived and its sources; refused when a market source's contract
    is not in force or (for a product for sale) forbids derived products."""
    with services.tx() as session:
        product = record_derivation(
            session,
            name=body.name,
            kind=body.kind,
            sources=[Source(s.kind, s.ref, s.version) for s in body.sources],
            for_sale=body.for_sale,
            created_by=principal.account_id,
            purpose=body.purpose.value if body.purpose else None,
        )
        return DerivedProductOut.of(product)


@router.get("/derived-products/{product_id}", response_model=DerivedProductOut)
def derived_product(
    product_id: str,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("derived_products", "read"))],
) -> DerivedProductOut:
    """A product's full lineage (through the products it is built on) and whether it may be sold now."""
    with services.read() as session:
        product = product_lineage(session, product_id, recursive=True)
        return DerivedProductOut.of(product, may_sell(session, product_id))
