"""Real-name accounts, organisations, keys and roles; OAuth2 client credentials and web login (R§18)."""

from __future__ import annotations

from fincredit.platform.core.registry import Capability, DemoStep
from fincredit.platform.identity import admin_router, auth_router, pages
from fincredit.platform.identity.cli import account_app, org_app, token_app
from fincredit.platform.identity.demo import step_institutions, step_key_revocation, step_tokens

CAPABILITY = Capability(
    name="identity",
    summary="Institutions, real-name accounts, keys, roles and login (R§18)",
    route_order=3,
    routers=(auth_router.router, admin_router.router),
    pages=(pages.router,),
    cli=(("org", org_app), ("account", account_app), ("", token_app)),
    demo_steps=(
        DemoStep(10, "Institutions and real-name accounts", step_institutions),
        DemoStep(11, "Authentication with private_key_jwt", step_tokens),
        DemoStep(15, "Key rotation and revocation", step_key_revocation),
    ),
)
