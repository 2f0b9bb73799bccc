"""Metered market products (G§14): the enterprise credit score, premium data, data product trading."""

from __future__ import annotations

from fincredit.platform.core.registry import Capability, DemoStep
from fincredit.platform.metered.products import router
from fincredit.platform.metered.products.cli import products_app
from fincredit.platform.metered.products.demo import PRODUCT_STEPS

CAPABILITY = Capability(
    name="products",
    summary="Credit score, premium datasets and data product trading, metered per use (G§14)",
    route_order=8,
    routers=(router.router,),
    policies=(
        ("bank", "market_products", "credit_score"),
        ("bank", "market_products", "premium_data"),
        ("bank", "data_products", "browse"),
        ("bank", "data_products", "purchase"),
        ("regulator", "data_products", "browse"),
    ),
    cli=(("products", products_app),),
    demo_steps=tuple(DemoStep(60 + i, title, run) for i, (title, run) in enumerate(PRODUCT_STEPS)),
)
