"""Reporting financing and credit-granting results to the national platform (G§12)."""

from __future__ import annotations

from fincredit.platform.core.registry import Capability
from fincredit.platform.national import router
from fincredit.platform.national.cli import national_app

CAPABILITY = Capability(
    name="national",
    summary="The outbox to the provincial node (G§12)",
    route_order=10,
    routers=(router.router,),
    # Supervisors watch the outbox; the operator runs it.
    policies=(("regulator", "national", "read"), ("credit_authority", "national", "read")),
    cli=(("national", national_app),),
)
