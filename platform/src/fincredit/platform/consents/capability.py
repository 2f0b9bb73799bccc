"""The consent ledger (G§16, G§17): explicit, scoped, time-bound authorizations, every state change
and every disclosure an entry of an append-only, verifiable log (R§20)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from fincredit.platform.consents import ledger_pages, ledger_router, pages, router
from fincredit.platform.consents.cli import consents_app
from fincredit.platform.consents.demo import CONSENT_STEPS, step_ledger_verify
from fincredit.platform.consents.tables import LedgerHead
from fincredit.platform.core.registry import Capability, DemoStep
from fincredit.platform.identity.kinds import BORROWER_ROLE


def _gauges(session: Session) -> Iterable[tuple[str, str, float]]:
    size = session.scalar(select(LedgerHead.size).where(LedgerHead.id == 1)) or 0
    return [("Entries in the consent ledger.", "ledger_entries", size)]


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
    demo_steps=(
        *(
            DemoStep(40 + i, title, run)
            for i, (title, run) in enumerate(CONSENT_STEPS)
            if run is not step_ledger_verify
        ),
        DemoStep(90, "The regulator verifies the ledger offline", step_ledger_verify),
    ),
)
