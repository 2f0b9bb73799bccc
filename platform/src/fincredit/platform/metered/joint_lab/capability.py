"""The joint-modelling lab and encrypted scoring (G§13, metered under G§14): PSI over consenting
subjects, vertical training, CKKS scoring, each use a ledger entry."""

from __future__ import annotations

from collections.abc import Mapping

from fincredit.platform.core.registry import Capability, DemoStep
from fincredit.platform.core.settings import Settings
from fincredit.platform.metered.joint_lab import frames_router, pages, router
from fincredit.platform.metered.joint_lab.demo import JOINT_STEPS


def _body_limits(settings: Settings) -> Mapping[str, int]:
    return {frames_router.FRAMES_PATH: frames_router.MAX_FRAME_BYTES}


CAPABILITY = Capability(
    name="joint_lab",
    summary="Joint modelling jobs and encrypted scoring over the frames wire (G§13, G§14)",
    route_order=13,
    routers=(router.router, frames_router.router),
    pages=(pages.router,),
    # Jobs and the frames wire of one's own institution.
    policies=(
        ("bank", "joint_lab", "create"),
        ("bank", "joint_lab", "read"),
        ("bank", "joint_lab", "frames"),
        # Model-risk sign-off; the four-eyes rule (not the trainer) is the lifecycle's own check.
        ("bank", "joint_lab", "approve"),
    ),
    demo_steps=tuple(DemoStep(70 + i, title, run) for i, (title, run) in enumerate(JOINT_STEPS)),
    body_limits=_body_limits,
)
