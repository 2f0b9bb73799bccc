"""Purchased market data (G§9) under a contract per vendor that says which uses are allowed (G§16)."""

from __future__ import annotations

from collections.abc import Mapping

from fincredit.platform.core.registry import Capability, DemoStep
from fincredit.platform.core.settings import Settings
from fincredit.platform.market import pages, router
from fincredit.platform.market.cli import market_app
from fincredit.platform.market.demo import MARKET_STEPS


def _body_limits(settings: Settings) -> Mapping[str, int]:
    return {"/api/v1/market/datasets": settings.max_upload_bytes}


CAPABILITY = Capability(
    name="market",
    summary="Vendors, contracts and dataset versions with provenance (G§9, G§16)",
    route_order=7,
    routers=(router.router,),
    pages=(pages.router,),
    policies=(
        ("bank", "market_datasets", "read"),
        ("vendor", "market_datasets", "read"),
        ("vendor", "market_datasets", "upload"),
        ("vendor", "market_contracts", "read"),
        ("regulator", "market_contracts", "read"),
        ("regulator", "market_datasets", "read"),
        ("regulator", "derived_products", "read"),
    ),
    cli=(("market", market_app),),
    demo_steps=tuple(DemoStep(30 + i, title, run) for i, (title, run) in enumerate(MARKET_STEPS)),
    body_limits=_body_limits,
)
