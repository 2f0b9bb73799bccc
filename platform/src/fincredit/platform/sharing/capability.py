"""Sharing with government departments (R§12-15): unconditional and conditional sharing under an
agreement with an agreed purpose; comparison, query and batch exchange. Not metered."""

from __future__ import annotations

from fincredit.platform.core.registry import Capability
from fincredit.platform.sharing import pages, router

CAPABILITY = Capability(
    name="sharing",
    summary="Government sharing agreements and their three modes (R§12-15)",
    route_order=1,
    routers=(router.router,),
    pages=(pages.router,),
    policies=(
        ("provider", "gov_sharing", "use"),
        ("provider", "gov_sharing", "approve"),
        ("provider", "gov_sharing", "read"),
        ("regulator", "gov_sharing", "read"),
        ("credit_authority", "gov_sharing", "read"),
    ),
)
