"""The public credit information catalog over HTTP: every institution reads it; the operator edits
it (each edit is a new version) and adjusts the financing-credit sharing list (R§6, G§7)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from fincredit.platform.catalog import (
    change_catalog,
    get_item,
    get_version,
    items_of,
    list_versions,
    set_sharing_list,
)
from fincredit.platform.core.deps import ServicesDep, require
from fincredit.platform.core.schemas import INT64_MAX
from fincredit.platform.identity.principal import Principal
from fincredit.platform.ingestion.schemas import (
    CatalogItemChange,
    CatalogItemIn,
    CatalogItemOut,
    CatalogOut,
    CatalogVersionOut,
    SharingListChange,
)

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog"])
VersionQuery = Annotated[
    int | None, Query(ge=1, le=INT64_MAX, description="a catalog version; default the current one")
]


@router.get("", response_model=CatalogOut)
def read_catalog(
    services: ServicesDep,
    _: Annotated[Principal, Depends(require("catalog", "read"))],
    version: VersionQuery = None,
) -> CatalogOut:
    """The catalog with all its items, as of the current (or the given) version."""
    with services.read() as session:
        v = get_version(session, version)
        return CatalogOut(
            version=CatalogVersionOut.of(v), items=[CatalogItemOut.of(i) for i in items_of(session, v)]
        )


@router.get("/versions", response_model=list[CatalogVersionOut])
def catalog_versions(
    services: ServicesDep, _: Annotated[Principal, Depends(require("catalog", "read"))]
) -> list[CatalogVersionOut]:
    with services.read() as session:
        return [CatalogVersionOut.of(v) for v in list_versions(session)]


@router.get("/items/{code}", response_model=CatalogItemOut)
def catalog_item(
    code: str,
    services: ServicesDep,
    _: Annotated[Principal, Depends(require("catalog", "read"))],
    version: VersionQuery = None,
) -> CatalogItemOut:
    with services.read() as session:
        return CatalogItemOut.of(get_item(session, code, version=get_version(session, version)))


@router.patch("/items/{code}", response_model=CatalogItemOut)
def change_item(
    code: str,
    body: CatalogItemChange,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("catalog", "write"))],
) -> CatalogItemOut:
    """Change an item's attributes: writes a new catalog version. Submissions made under earlier
    versions keep the version they were validated against."""
    with services.tx() as session:
        v = change_catalog(
            session,
            changes={code: body.changes()},
            created_by=principal.account_id,
            note=body.note or f"changed {code}",
        )
        return CatalogItemOut.of(get_item(session, code, version=v))


@router.post("/items", response_model=CatalogItemOut, status_code=201)
def add_item(
    body: CatalogItemIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("catalog", "write"))],
) -> CatalogItemOut:
    """Add an item (a new catalog version). Negative information defaults to 5 years' validity."""
    item = body.model_dump(exclude={"note"})
    item["fields"] = [f.model_dump() for f in body.fields]
    with services.tx() as session:
        v = change_catalog(
            session, new_items=[item], created_by=principal.account_id, note=body.note or f"added {body.code}"
        )
        return CatalogItemOut.of(get_item(session, body.code, version=v))


@router.put("/sharing-list", response_model=CatalogOut)
def adjust_sharing_list(
    body: SharingListChange,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("catalog", "write"))],
) -> CatalogOut:
    """G§7: put items on, or take them off, the financing-credit sharing list (a new version)."""
    with services.tx() as session:
        v = set_sharing_list(
            session, add=body.add, remove=body.remove, created_by=principal.account_id, note=body.note
        )
        return CatalogOut(
            version=CatalogVersionOut.of(v), items=[CatalogItemOut.of(i) for i in items_of(session, v)]
        )
