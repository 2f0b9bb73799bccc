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
from fincredit.platform.consents._selfcheck import last_self_check, run_self_check
from fincredit.platform.consents._witnesses import cosign
from fincredit.platform.consents.cli import consents_app
from fincredit.platform.consents.demo import CONSENT_STEPS, step_ledger_verify
from fincredit.platform.consents.tables import LedgerHead
from fincredit.platform.core.registry import Capability, DemoStep, ScheduledTask
from fincredit.platform.identity.kinds import BORROWER_ROLE

if TYPE_CHECKING:
    from fincredit.platform.core.services import Services


def _gauges(session: Session) -> Iterable[tuple[str, str, float]]:
    size = session.scalar(select(LedgerHead.size).where(LedgerHead.id == 1)) or 0
    gauges = [("Entries in the consent ledger.", "ledger_entries", float(size))]
    last = last_self_check(session)
    if last is not None:
        gauges += [
            (
                "Consents whose row differs from the state the ledger implies, at the last self-check.",
                "consent_log_drift",
                float(last.differences),
            ),
            (
                "Accesses or consent events the ledger itself does not authorise, at the last self-check.",
                "authorisation_violations",
                float(last.violations),
            ),
            ("Ledger entries covered by the last self-check.", "ledger_self_check_size", float(last.size)),
            ("When the last self-check ran (Unix time).", "ledger_self_check_time", last.at.timestamp()),
        ]
    return gauges


def _expire(services: Services, tick: dt.datetime) -> str:
    return f"{expire_due(services)} consent(s) expired"


def _checkpoint(services: Services, tick: dt.datetime) -> str:
    checkpoint = latest_checkpoint(services, fresh=True)
    # Witnesses that failed earlier are tried again here, however recently.
    return f"checkpoint at size {checkpoint.size}, {cosign(services, checkpoint)} cosignature(s)"


def _self_check(services: Services, tick: dt.datetime) -> str:
    return run_self_check(services).lines()[-1]


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
            "Sign a ledger checkpoint if stale and have the witnesses co-sign it",
            "fincredit consents checkpoint",
        ),
        # The consents table and the state the log implies must not drift (metrics consent_log_drift and
        # authorisation_violations, and the regulator's ledger status page).
        ScheduledTask(
            "consents.self_check",
            "*/10 * * * *",
            _self_check,
            "Replay the ledger's new entries and compare the consents table with the state the log implies",
            "fincredit consents self-check",
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
