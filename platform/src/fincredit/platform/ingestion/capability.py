"""Provider submissions (R§7), cleaning, matching, loading and feedback (R§8)."""

from __future__ import annotations

from collections.abc import Mapping

from fincredit.platform.core.registry import Capability, DemoStep
from fincredit.platform.core.settings import Settings
from fincredit.platform.ingestion import pages, router
from fincredit.platform.ingestion.cli import ingest_app
from fincredit.platform.ingestion.demo import INGEST_STEPS


def _body_limits(settings: Settings) -> Mapping[str, int]:
    return {"/api/v1/submissions": settings.max_upload_bytes}


CAPABILITY = Capability(
    name="ingestion",
    summary="Monthly submissions and nil reports, cleaning, matching, loading, feedback (R§7, R§8)",
    route_order=18,
    routers=(router.router,),
    pages=(pages.router,),
    policies=(
        ("provider", "submissions", "write"),
        ("provider", "submissions", "read"),
        ("regulator", "submissions", "read"),
        ("regulator", "submissions", "read_all"),
        ("credit_authority", "submissions", "read"),
        ("credit_authority", "submissions", "read_all"),
    ),
    cli=(("ingest", ingest_app),),
    demo_steps=tuple(DemoStep(20 + i, title, run) for i, (title, run) in enumerate(INGEST_STEPS)),
    body_limits=_body_limits,
)
