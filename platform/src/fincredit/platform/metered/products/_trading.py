"""Data product trading (G§14): the platform lists aggregate products derived from purchased market
data (its lineage recorded through ``market.record_derivation``, which refuses a product for sale when a
source contract forbids derived products), institutions buy them under the listing's licence terms, and
receive them as a Parquet file or through an API key. Every listing has its own meter priced at the
listing price, so a purchase appears on the buyer's statement like any metered call.

Products are aggregates by a grouping column: groups of fewer than ``MIN_GROUP`` enterprises are
suppressed, so no enterprise's values can be read back out of a product."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session

from fincredit.platform.core.db import utcnow
from fincredit.platform.core.errors import Forbidden, InvalidInput, NotFound
from fincredit.platform.core.services import Services
from fincredit.platform.identity.principal import Principal
from fincredit.platform.market import (
    PROVENANCE_COLUMNS,
    RECORD_ID,
    SUBJECT_CODE,
    Source,
    latest_version,
    may_sell,
    product_lineage,
    read_version,
    record_derivation,
)
from fincredit.platform.metered.billing import Usage, ensure_allowed, record_usage
from fincredit.platform.metered.billing.tables import Entitlement, Meter, Price, PriceBook
from fincredit.platform.metered.products.errors import LicenceRefused, ListingInactive, ListingInvalid
from fincredit.platform.metered.products.tables import DataProductListing, DataProductPurchase

GATE_PRODUCT = "market.data_product"  # the entitlement that opens the data product market to a buyer
MIN_GROUP = 5
DELIVERIES = ("file", "api")


@dataclass(frozen=True, slots=True)
class Purchase:
    purchase: DataProductPurchase
    api_key: str | None  # shown once


def _products_dir(services: Services) -> Path:
    path = services.settings.var_dir / "data_products"
    path.mkdir(parents=True, exist_ok=True)
    return path


def aggregate(table: pa.Table, group_by: str) -> pa.Table:
    """Per group: the number of enterprises and the mean of every numeric column; small groups dropped."""
    hidden = {SUBJECT_CODE, RECORD_ID, *PROVENANCE_COLUMNS}
    if group_by in hidden or group_by not in table.column_names:
        raise ListingInvalid(f"cannot group by {group_by!r}")
    numeric = [
        f.name
        for f in table.schema
        if f.name not in hidden
        and f.name != group_by
        and (pa.types.is_integer(f.type) or pa.types.is_floating(f.type))
    ]
    grouped = table.group_by(group_by).aggregate(
        [(SUBJECT_CODE, "count_distinct"), *[(c, "mean") for c in numeric]]
    )
    renamed = ["enterprises" if n == f"{SUBJECT_CODE}_count_distinct" else n for n in grouped.column_names]
    grouped = grouped.rename_columns(renamed)
    return grouped.filter(pc.greater_equal(grouped.column("enterprises"), MIN_GROUP)).sort_by(group_by)


def create_listing(
    session: Session,
    services: Services,
    principal: Principal,
    *,
    name: str,
    description: str,
    dataset: str,
    group_by: str,
    price: Decimal,
    licence: dict[str, Any],
    delivery: list[str],
) -> DataProductListing:
    """Build the product from the newest version of ``dataset``, record its lineage, list it, and give it
    a meter priced at ``price`` per purchase in every price-book version."""
    if principal.org_id is None:
        raise Forbidden("only the platform operator lists data products")
    if not delivery or any(d not in DELIVERIES for d in delivery):
        raise ListingInvalid(f"delivery is one or more of {DELIVERIES}")
    purposes = [str(p) for p in licence.get("purposes", [])]
    if not purposes or int(licence.get("licence_days", 0)) <= 0:
        raise ListingInvalid("a licence names its purposes and its licence_days")
    if price < 0:
        raise ListingInvalid("a price is not negative")
    version = latest_version(session, dataset, utcnow())
    if version is None:
        raise NotFound(f"dataset {dataset!r} has no version")
    product = aggregate(read_version(services.settings.var_dir, version), group_by)
    if product.num_rows == 0:
        raise ListingInvalid(f"every group has fewer than {MIN_GROUP} enterprises: nothing to sell")
    lineage = record_derivation(
        session,
        name=name,
        kind="data_product",
        sources=[Source("market_dataset", dataset, str(version.version))],
        for_sale=True,
        created_by=principal.account_id,
    )
    listing_id = "dpl_" + uuid.uuid4().hex[:16]
    path = _products_dir(services) / f"{listing_id}.parquet"
    pq.write_table(product, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    meter = f"data_product.{listing_id}"
    session.add(
        Meter(
            product=meter,
            name=f"Data product: {name}"[:200],
            event_type=f"fincredit.data_product.{listing_id}",
            aggregation="count",
            unit="purchase",
            group_by=[],
        )
    )
    session.flush()
    for book in session.scalars(select(PriceBook.version)):
        session.add(
            Price(
                version=book,
                product=meter,
                model="per_call",
                unit_price=price,
                tiers=[],
                free_units=Decimal(0),
                currency="CNY",
            )
        )
    listing = DataProductListing(
        id=listing_id,
        seller_org_id=principal.org_id,
        name=name,
        description=description,
        derived_product_id=lineage.id,
        meter_product=meter,
        price=price,
        licence={**licence, "purposes": purposes, "licence_days": int(licence["licence_days"])},
        delivery=list(delivery),
        file_name=path.name,
        sha256=digest,
        rows=product.num_rows,
        active=True,
    )
    session.add(listing)
    session.flush()
    return listing


def listing_view(session: Session, listing: DataProductListing) -> dict[str, Any]:
    lineage = product_lineage(session, listing.derived_product_id)
    return {
        "id": listing.id,
        "name": listing.name,
        "description": listing.description,
        "price_cny": str(listing.price),
        "licence": listing.licence,
        "delivery": listing.delivery,
        "rows": listing.rows,
        "sha256": listing.sha256,
        "active": listing.active,
        "provenance": [
            {"kind": s.kind, "ref": s.ref, "version": s.version, "contract_id": s.contract_id}
            for s in lineage.sources
        ],
        "created_at": listing.created_at,
    }


def get_listing(session: Session, listing_id: str) -> DataProductListing:
    listing = session.get(DataProductListing, listing_id)
    if listing is None:
        raise NotFound(f"no data product {listing_id!r}")
    return listing


def purchase(
    session: Session,
    services: Services,
    principal: Principal,
    listing_id: str,
    *,
    purpose: str,
    delivery: str,
    idempotency_key: str | None = None,
) -> Purchase:
    """Buy under the licence: the purpose must be one the licence names, the buyer entitled to the data
    product market (and within its credit limit), the sources still sellable; billed in this transaction."""
    if principal.org_id is None:
        raise Forbidden("only an institution buys data products")
    listing = get_listing(session, listing_id)
    if not listing.active:
        raise ListingInactive(f"{listing_id} is no longer for sale")
    if purpose not in listing.licence["purposes"]:
        raise LicenceRefused(
            f"the licence of {listing_id} allows {listing.licence['purposes']}, not {purpose!r}",
            purpose=purpose,
        )
    if delivery not in listing.delivery:
        raise InvalidInput(f"{listing_id} is delivered by {listing.delivery}")
    gate = session.get(Entitlement, (principal.org_id, GATE_PRODUCT))
    if gate is None or not gate.enabled:
        raise Forbidden(f"your institution is not entitled to {GATE_PRODUCT}", product=GATE_PRODUCT)
    if session.get(Entitlement, (principal.org_id, listing.meter_product)) is None:
        session.add(Entitlement(org_id=principal.org_id, product=listing.meter_product, enabled=True))
        session.flush()
    ensure_allowed(session, principal.org_id, listing.meter_product, 1)
    lineage = product_lineage(session, listing.derived_product_id)
    sellable, why = may_sell(session, listing.derived_product_id)
    if not sellable:
        raise LicenceRefused(f"{listing_id} may no longer be sold: {why}")
    usage_id = idempotency_key or uuid.uuid4().hex
    api_key = secrets.token_urlsafe(32) if delivery == "api" else None
    now = utcnow()
    row = DataProductPurchase(
        id="dpp_" + uuid.uuid4().hex[:16],
        listing_id=listing.id,
        org_id=principal.org_id,
        account_id=principal.account_id,
        purpose=purpose,
        price=listing.price,
        delivery=delivery,
        api_key_sha256=hashlib.sha256(api_key.encode()).hexdigest() if api_key else None,
        provenance=[
            {"kind": s.kind, "ref": s.ref, "version": s.version, "contract_id": s.contract_id}
            for s in lineage.sources
        ],
        usage_event_id=usage_id,
        created_at=now,
        expires_at=now + dt.timedelta(days=int(listing.licence["licence_days"])),
    )
    session.add(row)
    record_usage(
        session,
        Usage(
            product=listing.meter_product,
            org_id=principal.org_id,
            quantity=Decimal(1),
            id=usage_id,
            source="fincredit.platform/data-products",
            time=now,
            data={"listing_id": listing.id, "purchase_id": row.id, "price": str(listing.price)},
        ),
    )
    session.flush()
    return Purchase(row, api_key)


def own_purchase(session: Session, principal: Principal, purchase_id: str) -> DataProductPurchase:
    row = session.get(DataProductPurchase, purchase_id)
    if row is None or row.org_id != principal.org_id:
        raise NotFound(f"your institution has no purchase {purchase_id!r}")
    if row.expires_at <= utcnow():
        raise LicenceRefused(f"the licence of purchase {purchase_id} expired on {row.expires_at:%Y-%m-%d}")
    return row


def purchase_by_api_key(session: Session, api_key: str) -> DataProductPurchase:
    row = session.scalar(
        select(DataProductPurchase).where(
            DataProductPurchase.api_key_sha256 == hashlib.sha256(api_key.encode()).hexdigest()
        )
    )
    if row is None or row.expires_at <= utcnow():
        raise Forbidden("unknown or expired data product API key")
    return row


def product_file(services: Services, listing: DataProductListing) -> Path:
    """The stored file, verified against the listing's SHA-256 (a changed file is never delivered)."""
    path = _products_dir(services) / listing.file_name
    if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != listing.sha256:
        raise NotFound(f"the file of {listing.id} is missing or fails its sha256")
    return path


def product_rows(services: Services, listing: DataProductListing) -> list[dict[str, Any]]:
    return list(pq.read_table(product_file(services, listing)).to_pylist())
