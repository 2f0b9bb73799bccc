"""Thematic product boards (G§13): district and sector teams publish their own boards."""

from __future__ import annotations

from fincredit.platform.boards import apply_pages, pages, router
from fincredit.platform.core.registry import Capability

CAPABILITY = Capability(
    name="boards",
    summary="Thematic boards with products, eligibility rules and matchmaking (G§13)",
    route_order=9,
    routers=(router.router,),
    pages=(pages.router, apply_pages.router),
    # Teams write their own boards; banks attach products.
    policies=(("board_team", "boards", "write"), ("bank", "boards", "attach_product")),
)
