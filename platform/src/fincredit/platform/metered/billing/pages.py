"""Pages for institutions: the bank's consents, usage and statements (the provider's page is in
``pages_provider``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select

from fincredit.consent import ConsentStatus, Purpose
from fincredit.platform.consents import consent_view
from fincredit.platform.consents.tables import Consent
from fincredit.platform.core.db import utcnow
from fincredit.platform.core.deps import ServicesDep
from fincredit.platform.core.web.deps import PREFIX, page, render
from fincredit.platform.identity.principal import Principal
from fincredit.platform.metered.billing.overview import usage_overview

router = APIRouter(prefix=PREFIX, include_in_schema=False)


PAGE_SIZE = 50
STATES = tuple(ConsentStatus)  # the lifecycle order: pending, active, rejected, paused, ...


@router.get("/bank", response_class=HTMLResponse)
def bank_overview(
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(page("consents", "read"))],
    purpose: Annotated[str, Query(max_length=40)] = "",
    state: Annotated[str, Query(max_length=12)] = "",
    expiring: Annotated[str, Query(max_length=3)] = "",
    page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """A bank can hold thousands of consents (one per applicant of a joint model): a summary by purpose
    and state, then one page of them soonest-expiring first, filtered by purpose, state, or expiry
    within 30 days."""
    purpose = purpose if purpose in tuple(Purpose) else ""
    state = state if state in STATES else ""
    soon = utcnow() + dt.timedelta(days=30)
    mine = Consent.grantee_org_id == principal.org_id
    with services.read() as session:
        summary = session.execute(
            select(Consent.purpose, Consent.state, func.count())
            .where(mine)
            .group_by(Consent.purpose, Consent.state)
            .order_by(Consent.purpose, Consent.state)
        ).all()
        query = select(Consent).where(mine)
        if purpose:
            query = query.where(Consent.purpose == purpose)
        if state:
            query = query.where(Consent.state == state)
        if expiring == "1":
            query = query.where(Consent.state == ConsentStatus.ACTIVE, Consent.valid_until <= soon)
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(
            query.order_by(Consent.valid_until, Consent.id).offset((page_no - 1) * PAGE_SIZE).limit(PAGE_SIZE)
        )
        views = [consent_view(services, r) for r in rows]
    by_purpose: dict[str, dict[str, int]] = {}
    for p, st, n in summary:
        by_purpose.setdefault(p, {})[st] = n
    return render(
        request,
        "bank/overview.html",
        consents=views,
        summary=by_purpose,
        states=STATES,
        purposes=[p.value for p in Purpose],
        filters={"purpose": purpose, "state": state, "expiring": expiring == "1"},
        total=total,
        page_no=page_no,
        pages=max(1, -(-total // PAGE_SIZE)),
        soon=soon,
    )


@router.get("/bank/billing", response_class=HTMLResponse)
def bank_billing(
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(page("billing", "read_own"))],
) -> HTMLResponse:
    now = utcnow()
    with services.read() as session:
        usage = usage_overview(session, principal.org_id or "", now)
    months = []
    year, month = now.year, now.month
    for _ in range(6):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return render(request, "bank/billing.html", usage=usage, months=months)
