"""The consent ledger (G§16, G§17): explicit, scoped, time-bound authorizations, every state change
and every disclosure an entry of an append-only, verifiable log (R§20)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from fincredit.platform.consents import (
    expire_due,
    latest_checkpoint,
    ledger_pages,
    ledger_router,
    pages,
    router,
)
from fincredit.platform.consents.cli import consents_app
from fincredit.platform.consents.demo import CONSENT_STEPS, step_ledger_verify
from fincredit.platform.consents.tables import LedgerHead
from fincredit.platform.core.registry import Capability, DemoStep, ScheduledTask
from fincredit.platform.identity.kinds import BORROWER_ROLE

if TYPE_CHECKING:
    from fincredit.platform.core.services import Services


def _gauges(session: Session) -> Iterable[tuple[str, str, float]]:
    size = session.scalar(select(LedgerHead.size).where(LedgerHead.id == 1)) or 0
    return [("Entries in the consent ledger.", "ledger_entries", size)]


def _expire(services: Services, tick: dt.datetime) -> str:
    return f"{expire_due(services)} consent(s) expired"


def _checkpoint(services: Services, tick: dt.datetime) -> str:
    return f"checkpoint at size {latest_checkpoint(services, fresh=True).size}"


CAPABILITY = Capability(
    name="consents",
    summary="Consents and the verifiable consent ledger (G§16, G§17, R§20)",
    route_order=16,
    routers=(router.router, ledger_router.router),
    pages=(pages.router, ledger_pages.router),
    # Banks request and hold consents; borrowers decide on theirs and see every access; regulators and the
    # credit authority read and export the ledger (checkpoints and proofs are public).
    policies=(
        ("bank", "consents", "request"),
        ("bank", "consents", "read"),
        ("bank", "consents", "check"),
        (BORROWER_ROLE, "own_consents", "read"),
        (BORROWER_ROLE, "own_consents", "write"),
        (BORROWER_ROLE, "own_accesses", "read"),
        ("regulator", "ledger", "read"),
        ("regulator", "ledger", "export"),
        ("credit_authority", "ledger", "read"),
        ("credit_authority", "ledger", "export"),
    ),
    cli=(("consents", consents_app),),
    gauges=_gauges,
    tasks=(
        ScheduledTask(
            "consents.expire",
            "* * * * *",
            _expire,
            "Consents past their end become EXPIRED",
            "fincredit consents expire",
        ),
        # Auditors and witnesses see the ledger's growth at least this often, even between checkpoints
        # signed every ledger_checkpoint_every entries.
        ScheduledTask(
            "consents.checkpoint",
            "*/5 * * * *",
            _checkpoint,
            "Sign a ledger checkpoint if stale",
            "fincredit consents checkpoint",
        ),
    ),
    demo_steps=(
        *(
            DemoStep(40 + i, title, run)
            for i, (title, run) in enumerate(CONSENT_STEPS)
            if run is not step_ledger_verify
        ),
        DemoStep(90, "The regulator verifies the ledger offline", step_ledger_verify),
    ),
)
