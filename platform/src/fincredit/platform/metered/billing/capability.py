"""Metering and billing of the market-oriented services (G§14): usage, quotas, credit limits,
statements and invoices."""

from __future__ import annotations

from fincredit.platform.core.registry import Capability
from fincredit.platform.metered.billing import pages, router
from fincredit.platform.metered.billing.catalog import seed_defaults

CAPABILITY = Capability(
    name="billing",
    summary="Usage metered per call, quotas, credit limits, monthly statements (G§14)",
    route_order=6,
    routers=(router.router,),
    pages=(pages.router,),
    # Usage, balances and statements of one's own institution; supervisors see all.
    policies=(
        ("bank", "billing", "read_own"),
        ("vendor", "billing", "read_own"),
        ("regulator", "billing", "read_all"),
        ("credit_authority", "billing", "read_all"),
    ),
    seed=seed_defaults,
)
