"""Reporting financing and credit-granting results to the national platform (G§12)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fincredit.platform.core.registry import Capability, ScheduledTask
from fincredit.platform.national import deliver_due, enqueue_granted, router
from fincredit.platform.national.cli import national_app
from fincredit.platform.national.tables import NationalReport

if TYPE_CHECKING:
    from fincredit.platform.core.services import Services


def _gauges(session: Session) -> Iterable[tuple[str, str, float]]:
    pending = session.scalar(select(func.count()).where(NationalReport.status == "pending")) or 0
    return [("queue", "national_reports", pending)]


def _deliver(services: Services, tick: dt.datetime) -> str:
    with services.tx() as session:
        queued = enqueue_granted(session, services)
    run = deliver_due(services)
    return f"{queued} granted loan(s) queued, {run.delivered} delivered, {run.failed} to retry"


CAPABILITY = Capability(
    name="national",
    summary="The outbox to the provincial node (G§12)",
    route_order=10,
    routers=(router.router,),
    # Supervisors watch the outbox; the operator runs it.
    policies=(("regulator", "national", "read"), ("credit_authority", "national", "read")),
    cli=(("national", national_app),),
    gauges=_gauges,
    tasks=(
        ScheduledTask(
            "national.deliver",
            "*/5 * * * *",
            _deliver,
            "Queue granted loans and send the due reports",
            "fincredit national deliver",
        ),
    ),
)
