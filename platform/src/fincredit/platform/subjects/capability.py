"""The two subject databases (R§3): legal persons by unified social credit code, natural persons by
resident ID; identifiers checked, stored encrypted and shown masked."""

from __future__ import annotations

from fincredit.platform.core.registry import Capability, DemoStep
from fincredit.platform.subjects import router
from fincredit.platform.subjects.demo import step_bad_identifier, step_masking, step_subjects

CAPABILITY = Capability(
    name="subjects",
    summary="Legal and natural persons, their identifiers checked, encrypted and masked (R§3)",
    route_order=4,
    routers=(router.router,),
    policies=(
        ("bank", "subjects", "read"),
        ("provider", "subjects", "read"),
        ("provider", "subjects", "write"),
        ("credit_authority", "subjects", "read"),
        ("credit_authority", "subjects", "reveal"),
    ),
    demo_steps=(
        DemoStep(12, "Subjects of the synthetic city", step_subjects),
        DemoStep(13, "Invalid identifiers are refused", step_bad_identifier),
        DemoStep(14, "Identifier masking", step_masking),
    ),
)
