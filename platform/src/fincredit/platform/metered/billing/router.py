"""Usage, quotas, balances and statements of the metered market services (G§14).

This router and the metered service routers are the only ones that touch metering; the free
public-interest routers (G§11) never import it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from fincredit.platform.core.db import Organisation, utcnow
from fincredit.platform.core.deps import ServicesDep, require
from fincredit.platform.core.errors import Conflict, InvalidInput, NotFound
from fincredit.platform.core.schemas import Amount, Strict
from fincredit.platform.identity.principal import Principal
from fincredit.platform.metered.billing import build_statement, record_usage, regulator_totals
from fincredit.platform.metered.billing.enforcement import Usage
from fincredit.platform.metered.billing.overview import usage_overview
from fincredit.platform.metered.billing.pricing import price_for
from fincredit.platform.metered.billing.tables import CreditLimit, Entitlement, Meter, Price, PriceBook

router = APIRouter(prefix="/api/v1", tags=["metered services: billing"])


class UsageEventIn(Strict):
    """CloudEvents-like usage event; (source, id) makes it idempotent."""

    id: str = Field(min_length=1, max_length=100)
    source: str = Field(min_length=1, max_length=100)
    product: str = Field(max_length=64)
    subject: str = Field(description="the organisation that used the product", max_length=64)
    time: dt.datetime
    quantity: Decimal = Field(gt=0, max_digits=18, decimal_places=4)
    data: dict[str, Any] = Field(default_factory=dict)


class UsageEventsIn(Strict):
    events: list[UsageEventIn] = Field(min_length=1, max_length=10_000)


class IngestResult(BaseModel):
    accepted: int
    duplicates: int


class ProductUsage(BaseModel):
    product: str
    name: str
    unit: str
    used: str
    monthly_quota: str | None
    remaining: str | None
    enabled: bool


class UsageOut(BaseModel):
    org_id: str
    period: str
    products: list[ProductUsage]
    spent: str
    credit_limit: str | None
    currency: str = "CNY"


class EntitlementIn(Strict):
    enabled: bool = True
    monthly_quota: Amount | None = None


class CreditLimitIn(Strict):
    monthly_limit: Amount


class TierIn(Strict):
    up_to: Amount | None = Field(None, description="upper bound of the tier in units; none for the last")
    unit_price: Amount


class PriceIn(Strict):
    product: str
    model: Literal["per_call", "per_row", "graduated"]
    unit_price: Amount = Decimal(0)
    tiers: list[TierIn] = Field(default_factory=list, max_length=100)
    free_units: Amount = Decimal(0)
    currency: str = "CNY"


class PriceBookIn(Strict):
    effective_from: dt.date
    note: str = ""
    prices: list[PriceIn] = Field(min_length=1)


def _usage(services: ServicesDep, org_id: str) -> UsageOut:
    with services.read() as session:
        return UsageOut.model_validate(usage_overview(session, org_id, utcnow()))


@router.get("/billing/usage", response_model=UsageOut)
def my_usage(
    services: ServicesDep, principal: Annotated[Principal, Depends(require("billing", "read_own"))]
) -> UsageOut:
    """This month's usage per product, quotas and what remains, and the spend against the credit limit."""
    if principal.org_id is None:
        raise NotFound("only institutions have usage")
    return _usage(services, principal.org_id)


def _statement_response(services: ServicesDep, org_id: str, period: str, fmt: str) -> Response:
    with services.read() as session:
        if session.get(Organisation, org_id) is None:
            raise NotFound(f"no organisation {org_id!r}")
        statement = build_statement(session, org_id, period)
    name = f"statement-{org_id}-{period}"
    if fmt == "csv":
        return Response(
            statement.to_csv(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if fmt == "pdf":
        return Response(
            statement.to_pdf(),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
        )
    return JSONResponse(statement.as_dict())


@router.get("/billing/statements/{period}")
def my_statement(
    period: str,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("billing", "read_own"))],
    format: Annotated[Literal["json", "csv", "pdf"], Query()] = "json",
) -> Response:
    """The monthly statement of the caller's institution (JSON, CSV or PDF), computed from raw events."""
    if principal.org_id is None:
        raise NotFound("only institutions have statements")
    return _statement_response(services, principal.org_id, period, format)


@router.get("/billing/organisations/{org_id}/statements/{period}")
def statement_of(
    org_id: str,
    period: str,
    services: ServicesDep,
    _: Annotated[Principal, Depends(require("billing", "read_all"))],
    format: Annotated[Literal["json", "csv", "pdf"], Query()] = "json",
) -> Response:
    return _statement_response(services, org_id, period, format)


@router.get("/billing/totals/{period}")
def totals(
    period: str, services: ServicesDep, _: Annotated[Principal, Depends(require("billing", "read_all"))]
) -> list[dict[str, Any]]:
    """Market revenue per institution for a month (regulators and the credit authority)."""
    with services.read() as session:
        return regulator_totals(session, period)


@router.get("/billing/price-book")
def current_price_book(
    services: ServicesDep, _: Annotated[Principal, Depends(require("billing", "read_own"))]
) -> dict[str, Any]:
    today = utcnow().date()
    with services.read() as session:
        products = list(session.scalars(select(Meter.product).order_by(Meter.product)))
        prices = [price_for(session, p, today) for p in products]
    return {
        "version": prices[0].version if prices else None,
        "prices": [
            {
                "product": p.product,
                "model": p.model,
                "unit_price": str(p.unit_price),
                "tiers": p.tiers,
                "free_units": str(p.free_units),
                "currency": p.currency,
            }
            for p in prices
        ],
    }


@router.post("/metering/events", response_model=IngestResult)
def ingest_events(
    body: UsageEventsIn, services: ServicesDep, _: Annotated[Principal, Depends(require("metering", "write"))]
) -> IngestResult:
    """Usage events from metered components; an event already seen (same source and id) counts once."""
    accepted = 0
    with services.tx() as session:
        for e in body.events:
            if session.get(Organisation, e.subject) is None:
                raise InvalidInput(f"event {e.id}: no organisation {e.subject!r}")
            accepted += record_usage(
                session,
                Usage(
                    product=e.product,
                    org_id=e.subject,
                    quantity=e.quantity,
                    source=e.source,
                    id=e.id,
                    time=e.time,
                    data=e.data,
                ),
            )
    return IngestResult(accepted=accepted, duplicates=len(body.events) - accepted)


@router.put("/billing/entitlements/{org_id}/{product}", status_code=204)
def set_entitlement(
    org_id: str,
    product: str,
    body: EntitlementIn,
    services: ServicesDep,
    _: Annotated[Principal, Depends(require("billing", "admin"))],
) -> None:
    with services.tx() as session:
        if session.get(Organisation, org_id) is None or session.get(Meter, product) is None:
            raise NotFound(f"no organisation {org_id!r} or product {product!r}")
        ent = session.get(Entitlement, (org_id, product))
        if ent is None:
            session.add(
                Entitlement(
                    org_id=org_id, product=product, enabled=body.enabled, monthly_quota=body.monthly_quota
                )
            )
        else:
            ent.enabled, ent.monthly_quota = body.enabled, body.monthly_quota


@router.put("/billing/credit-limits/{org_id}", status_code=204)
def set_credit_limit(
    org_id: str,
    body: CreditLimitIn,
    services: ServicesDep,
    _: Annotated[Principal, Depends(require("billing", "admin"))],
) -> None:
    with services.tx() as session:
        if session.get(Organisation, org_id) is None:
            raise NotFound(f"no organisation {org_id!r}")
        limit = session.get(CreditLimit, org_id)
        if limit is None:
            session.add(CreditLimit(org_id=org_id, monthly_limit=body.monthly_limit))
        else:
            limit.monthly_limit = body.monthly_limit


@router.post("/billing/price-books", status_code=201)
def new_price_book(
    body: PriceBookIn, services: ServicesDep, _: Annotated[Principal, Depends(require("billing", "admin"))]
) -> dict[str, int]:
    """A new version of the price book; earlier months keep being billed at the version then in force."""
    with services.tx() as session:
        latest = session.scalar(select(PriceBook).order_by(PriceBook.version.desc()).limit(1))
        if latest is not None and body.effective_from <= latest.effective_from:
            raise Conflict(f"a new price book must take effect after {latest.effective_from.isoformat()}")
        version = (latest.version if latest else 0) + 1
        session.add(PriceBook(version=version, effective_from=body.effective_from, note=body.note))
        session.flush()
        for p in body.prices:
            if session.get(Meter, p.product) is None:
                raise NotFound(f"no metered product {p.product!r}")
            session.add(
                Price(
                    version=version,
                    product=p.product,
                    model=p.model,
                    unit_price=p.unit_price,
                    tiers=[
                        {"up_to": None if t.up_to is None else str(t.up_to), "unit_price": str(t.unit_price)}
                        for t in p.tiers
                    ],
                    free_units=p.free_units,
                    currency=p.currency,
                )
            )
    return {"version": version}
