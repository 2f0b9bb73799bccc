"""Reporting financing and credit-granting results to the national platform (G§12)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fincredit.platform.core.registry import Capability
from fincredit.platform.national import router
from fincredit.platform.national.cli import national_app
from fincredit.platform.national.tables import NationalReport


def _gauges(session: Session) -> Iterable[tuple[str, str, float]]:
    pending = session.scalar(select(func.count()).where(NationalReport.status == "pending")) or 0
    return [("queue", "national_reports", pending)]


CAPABILITY = Capability(
    name="national",
    summary="The outbox to the provincial node (G§12)",
    route_order=10,
    routers=(router.router,),
    # Supervisors watch the outbox; the operator runs it.
    policies=(("regulator", "national", "read"), ("credit_authority", "national", "read")),
    cli=(("national", national_app),),
    gauges=_gauges,
)
