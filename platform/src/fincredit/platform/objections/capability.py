"""Objections to credit records (R§10): internal check, provider check, extension, correction."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from fincredit.platform.core.registry import Capability, ScheduledTask
from fincredit.platform.identity.kinds import BORROWER_ROLE
from fincredit.platform.objections import pages, record_missed_deadlines, router
from fincredit.platform.objections.cli import objections_app

if TYPE_CHECKING:
    from fincredit.platform.core.services import Services


def _missed_deadlines(services: Services, tick: dt.datetime) -> str:
    with services.tx() as session:
        return f"{len(record_missed_deadlines(session))} missed deadline(s) recorded"


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
    tasks=(
        # Daily at 00:05 China time, when the previous working day's deadlines have passed.
        ScheduledTask(
            "objections.missed_deadlines",
            "5 16 * * *",
            _missed_deadlines,
            "Record missed deadlines in trails",
            "fincredit objections sweep",
        ),
    ),
)
