"""The public credit information catalog (R§6) and the financing-credit sharing list (G§7)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fincredit.platform.catalog import ensure_catalog, router
from fincredit.platform.catalog.cli import catalog_app
from fincredit.platform.core.registry import Capability

if TYPE_CHECKING:
    from fastapi import FastAPI

    from fincredit.platform.core.services import Services


def _install(app: FastAPI, services: Services) -> None:
    ensure_catalog(services.sessions)  # seeds the default catalog at first start


CAPABILITY = Capability(
    name="catalog",
    summary="Catalog items with disclosure, sharing and validity attributes; the sharing list (R§6, G§7)",
    route_order=17,
    routers=(router.router,),
    policies=tuple(
        (role, "catalog", "read")
        for role in ("bank", "provider", "vendor", "board_team", "regulator", "credit_authority")
    ),
    cli=(("catalog", catalog_app),),
    install=_install,
)
