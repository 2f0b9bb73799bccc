"""Lineage of the platform's own derived products (G§14, G§16): every model, score or report template
records which sources it came from — market dataset versions (and the contract that allowed it),
catalog items, other derived products — so a sale can be checked against every source's contract."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from fincredit.platform.core.db import utcnow
from fincredit.platform.core.errors import DerivedProductRefused, InvalidInput, NotFound
from fincredit.platform.market._contracts import check_market_use, contract_in_force
from fincredit.platform.market._datasets import latest_version
from fincredit.platform.market.tables import DerivationSource, DerivedProduct


class SourceKind(StrEnum):
    MARKET_DATASET = "market_dataset"
    CATALOG_ITEM = "catalog_item"
    DERIVED_PRODUCT = "derived_product"


@dataclass(frozen=True, slots=True)
class Source:
    kind: SourceKind | str
    ref: str
    version: str | None = None  # None for a market dataset: the newest version at derivation time


@dataclass(frozen=True, slots=True)
class SourceView:
    kind: str
    ref: str
    version: str | None
    contract_id: str | None
    via: str | None = None  # the derived product this source reached the product through


@dataclass(frozen=True, slots=True)
class ProductView:
    id: str
    name: str
    kind: str
    for_sale: bool
    created_by: str
    created_at: dt.datetime
    sources: tuple[SourceView, ...]


def record_derivation(
    session: Session,
    *,
    name: str,
    kind: str,
    sources: Sequence[Source],
    for_sale: bool,
    created_by: str,
    purpose: str | None = None,
    at: dt.datetime | None = None,
) -> ProductView:
    """Record a derived product and its sources. Each market source needs a contract in force (and, when
    ``purpose`` is given, one allowing it); a product for sale needs every market source's contract to
    allow derived products, directly or through the derived products it is built on."""
    at = at or utcnow()
    if not sources:
        raise InvalidInput("a derived product has at least one source")
    product = DerivedProduct(
        id="dp_" + uuid.uuid4().hex[:20], name=name, kind=kind, for_sale=for_sale, created_by=created_by
    )
    session.add(product)
    session.flush()
    for src in sources:
        try:
            src_kind = SourceKind(src.kind)
        except ValueError:
            raise InvalidInput(
                f"unknown source kind {src.kind!r}; one of {[k.value for k in SourceKind]}"
            ) from None
        version, contract_id = src.version, None
        if src_kind is SourceKind.MARKET_DATASET:
            contract_id, version = _check_market_source(session, src, for_sale, purpose, at)
        elif src_kind is SourceKind.DERIVED_PRODUCT:
            parent = session.get(DerivedProduct, src.ref)
            if parent is None:
                raise NotFound(f"no derived product {src.ref!r}")
            if for_sale:
                _check_sellable(session, parent.id, at)
        session.add(
            DerivationSource(
                product_id=product.id,
                source_kind=src_kind.value,
                source_ref=src.ref,
                source_version=version,
                contract_id=contract_id,
                recorded_at=at,
            )
        )
    session.flush()
    return product_lineage(session, product.id)


def _check_market_source(
    session: Session, src: Source, for_sale: bool, purpose: str | None, at: dt.datetime
) -> tuple[str, str]:
    decision = check_market_use(session, src.ref, purpose, at)
    decision.raise_if_refused()
    contract = decision.contract
    assert contract is not None  # an allowed decision always names its contract
    if for_sale and not contract.derived_products_allowed:
        raise DerivedProductRefused(
            f"contract {contract.reference} for {src.ref!r} does not allow selling derived products",
            dataset=src.ref,
            contract=contract.reference,
        )
    version = src.version
    if version is None:
        latest = latest_version(session, src.ref, at)
        if latest is None:
            raise NotFound(f"dataset {src.ref!r} has no version to derive from")
        version = str(latest.version)
    return contract.id, version


def _check_sellable(session: Session, product_id: str, at: dt.datetime) -> None:
    for src in product_lineage(session, product_id, recursive=True).sources:
        if src.kind != SourceKind.MARKET_DATASET.value:
            continue
        contract = contract_in_force(session, src.ref, at)
        if contract is None or not contract.derived_products_allowed:
            why = "no contract in force" if contract is None else f"contract {contract.reference} forbids it"
            raise DerivedProductRefused(
                f"derived product {product_id} uses {src.ref!r} ({why}): it may not be sold",
                dataset=src.ref,
            )


def may_sell(session: Session, product_id: str, at: dt.datetime | None = None) -> tuple[bool, str]:
    """Whether the product may be sold at ``at``: every market source, however indirect, still has a
    contract in force that allows derived products (an expired contract stops all use)."""
    try:
        _check_sellable(session, product_id, at or utcnow())
    except DerivedProductRefused as exc:
        return False, exc.detail
    return True, "every market source's contract allows selling derived products"


def product_lineage(session: Session, product_id: str, *, recursive: bool = False) -> ProductView:
    product = session.get(DerivedProduct, product_id)
    if product is None:
        raise NotFound(f"no derived product {product_id!r}")
    sources: list[SourceView] = []
    seen = {product_id}
    frontier: list[tuple[str, str | None]] = [(product_id, None)]
    while frontier:
        current, via = frontier.pop(0)
        rows = session.scalars(
            select(DerivationSource)
            .where(DerivationSource.product_id == current)
            .order_by(DerivationSource.id)
        )
        for row in rows:
            sources.append(
                SourceView(row.source_kind, row.source_ref, row.source_version, row.contract_id, via)
            )
            if (
                recursive
                and row.source_kind == SourceKind.DERIVED_PRODUCT.value
                and row.source_ref not in seen
            ):
                seen.add(row.source_ref)
                frontier.append((row.source_ref, row.source_ref))
    return ProductView(
        id=product.id,
        name=product.name,
        kind=product.kind,
        for_sale=product.for_sale,
        created_by=product.created_by,
        created_at=product.created_at,
        sources=tuple(sources),
    )
