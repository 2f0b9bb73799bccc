"""Objections to credit records (R§10): internal check, provider check, extension, correction."""

from __future__ import annotations

from fincredit.platform.core.registry import Capability
from fincredit.platform.identity.kinds import BORROWER_ROLE
from fincredit.platform.objections import pages, router
from fincredit.platform.objections.cli import objections_app

CAPABILITY = Capability(
    name="objections",
    summary="Objections with their working-day deadlines; records flagged while disputed (R§10)",
    route_order=15,
    routers=(router.router,),
    pages=(pages.router,),
    policies=(
        ("provider", "provider_objections", "read"),
        ("provider", "provider_objections", "write"),
        ("regulator", "objections", "read"),
        ("credit_authority", "objections", "read"),
        (BORROWER_ROLE, "own_objections", "read"),
        (BORROWER_ROLE, "own_objections", "write"),
    ),
    cli=(("objections", objections_app),),
)
