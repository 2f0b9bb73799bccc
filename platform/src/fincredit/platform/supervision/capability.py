"""Supervision (G§18-22, R§22): work plans, monthly reports, statistics, inspections, experts."""

from __future__ import annotations

from fincredit.platform.core.registry import Capability
from fincredit.platform.supervision import pages, router

CAPABILITY = Capability(
    name="supervision",
    summary="Annual plan, monthly operations reports, security checks, expert pool (G§18-22, R§22)",
    route_order=12,
    routers=(router.router,),
    pages=(pages.router,),
    policies=(
        ("regulator", "supervision", "read"),
        ("credit_authority", "supervision", "read"),
        ("credit_authority", "supervision", "inspect"),
        ("credit_authority", "supervision", "experts"),
        ("regulator", "supervision", "inspect"),
    ),
)
