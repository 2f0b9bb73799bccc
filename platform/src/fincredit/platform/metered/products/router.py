"""METERED market products (G§14): the platform's enterprise credit score, premium datasets and data
product trading. Every call here is billed through ``fincredit.platform.metered.billing`` in the transaction
that does the work (refused with 402/429 before the work when a credit limit or quota would be passed).
Kept apart from the free public-interest routers (G§11), which never meter."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import FileResponse
from pydantic import Field

from fincredit.platform.core.deps import ServicesDep, public, require
from fincredit.platform.core.schemas import Strict
from fincredit.platform.identity.principal import Principal
from fincredit.platform.metered.products import (
    create_listing,
    get_listing,
    listing_view,
    own_purchase,
    premium_rows,
    product_file,
    product_rows,
    purchase,
    purchase_by_api_key,
    score_enterprises,
)

router = APIRouter(prefix="/api/v1/market-products", tags=["metered services: market products"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=100)]


class ScoreIn(Strict):
    identifiers: list[str] = Field(min_length=1, max_length=500)
    purpose: str = "loan_application_assessment"


class PremiumIn(Strict):
    identifiers: list[str] = Field(min_length=1, max_length=1000)
    purpose: str
    fields: list[str] | None = None


class ListingIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    dataset: str
    group_by: str
    price_cny: Decimal = Field(ge=0, max_digits=18, decimal_places=4)
    licence: dict[str, Any]
    delivery: list[str] = Field(min_length=1)


class PurchaseIn(Strict):
    purpose: str
    delivery: str = "file"


@router.post("/credit-score")
def credit_score(
    body: ScoreIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("market_products", "credit_score"))],
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Score enterprises with the platform model; each score carries the model version. Billed per
    enterprise scored; enterprises whose consent does not allow it are listed as refused, unbilled."""
    with services.tx() as session:
        call = score_enterprises(
            session,
            services,
            principal,
            body.identifiers,
            purpose=body.purpose,
            idempotency_key=idempotency_key,
        )
    return {
        "model": "enterprise-credit-score",
        "model_version": call.model_version,
        "scores": call.scored,
        "refused": call.refused,
        "billed_units": call.billed,
        "usage_event_id": call.usage_event_id,
        "market_datasets": [{"dataset": d, "version": v} for d, v in call.market_datasets],
    }


@router.post("/premium-datasets/{dataset}")
def premium_dataset(
    dataset: str,
    body: PremiumIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("market_products", "premium_data"))],
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Rows of purchased market data for consenting enterprises, for a purpose the vendor contract
    allows; billed per row."""
    with services.tx() as session:
        out = premium_rows(
            session,
            services,
            principal,
            dataset,
            body.identifiers,
            purpose=body.purpose,
            fields=body.fields,
            idempotency_key=idempotency_key,
        )
    return {
        "dataset": out.dataset,
        "version": out.version,
        "contract_id": out.contract_id,
        "rows": out.rows,
        "refused": out.refused,
        "billed_units": len(out.rows),
        "usage_event_id": out.usage_event_id,
    }


@router.post("/data-products", status_code=201)
def list_product(
    body: ListingIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("data_products", "list"))],
) -> dict[str, Any]:
    with services.tx() as session:
        listing = create_listing(
            session,
            services,
            principal,
            name=body.name,
            description=body.description,
            dataset=body.dataset,
            group_by=body.group_by,
            price=body.price_cny,
            licence=body.licence,
            delivery=body.delivery,
        )
        return listing_view(session, listing)


@router.get("/data-products")
def listings(
    services: ServicesDep, principal: Annotated[Principal, Depends(require("data_products", "browse"))]
) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from fincredit.platform.metered.products.tables import DataProductListing

    with services.read() as session:
        rows = session.scalars(
            select(DataProductListing)
            .where(DataProductListing.active.is_(True))
            .order_by(DataProductListing.created_at.desc())
        )
        return [listing_view(session, r) for r in rows]


@router.post("/data-products/{listing_id}/purchases", status_code=201)
def buy(
    listing_id: str,
    body: PurchaseIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("data_products", "purchase"))],
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Buy under the licence; billed at the listing price. An API key (delivery "api") is shown once."""
    with services.tx() as session:
        bought = purchase(
            session,
            services,
            principal,
            listing_id,
            purpose=body.purpose,
            delivery=body.delivery,
            idempotency_key=idempotency_key,
        )
        row = bought.purchase
        return {
            "id": row.id,
            "listing_id": row.listing_id,
            "price_cny": str(row.price),
            "purpose": row.purpose,
            "delivery": row.delivery,
            "expires_at": row.expires_at,
            "provenance": row.provenance,
            "usage_event_id": row.usage_event_id,
            "api_key": bought.api_key,
            "download": f"/api/v1/market-products/purchases/{row.id}/file"
            if row.delivery == "file"
            else None,
        }


@router.get("/purchases/{purchase_id}/file")
def download(
    purchase_id: str,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("data_products", "purchase"))],
) -> FileResponse:
    """The purchased product as Parquet, while the licence is in force."""
    with services.read() as session:
        row = own_purchase(session, principal, purchase_id)
        listing = get_listing(session, row.listing_id)
    return FileResponse(
        product_file(services, listing),
        media_type="application/vnd.apache.parquet",
        filename=f"{listing.id}.parquet",
        headers={"X-Content-SHA256": listing.sha256},
    )


@router.get("/data-products/api/rows", dependencies=[Depends(public)])
def api_access(
    services: ServicesDep, api_key: Annotated[str, Header(alias="X-Data-Product-Key", min_length=20)]
) -> dict[str, Any]:
    """API delivery: the purchased product's rows for the holder of the purchase's key (the key, not a
    token, authenticates; it works only while the licence is in force)."""
    with services.read() as session:
        row = purchase_by_api_key(session, api_key)
        listing = get_listing(session, row.listing_id)
    return {"listing_id": listing.id, "purchase_id": row.id, "rows": product_rows(services, listing)}
