"""Publication (R§17): blacklists, typical cases, joint rewards and punishments, with review."""

from __future__ import annotations

from fincredit.platform.core.registry import Capability
from fincredit.platform.publication import router

CAPABILITY = Capability(
    name="publication",
    summary="Monthly publication by the 10th with a review step; nothing secret or private (R§17)",
    route_order=11,
    routers=(router.router,),
    # Departments draft and review (another account approves); supervisors see lateness.
    policies=(
        ("provider", "publications", "draft"),
        ("provider", "publications", "review"),
        ("credit_authority", "publications", "draft"),
        ("credit_authority", "publications", "review"),
        ("credit_authority", "publications", "read_all"),
        ("regulator", "publications", "read_all"),
    ),
)
