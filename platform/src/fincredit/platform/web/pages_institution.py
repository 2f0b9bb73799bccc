"""Pages for institutions: the bank's consents, usage and statements (the provider's page is in
``pages_provider``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from ..api.deps import ServicesDep
from ..consents import consent_view
from ..db import utcnow
from ..db.consent import Consent
from ..identity.principal import Principal
from ..metering.overview import usage_overview
from .deps import PREFIX, page, render

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/bank", response_class=HTMLResponse)
def bank_overview(
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(page("consents", "read"))],
) -> HTMLResponse:
    with services.read() as session:
        rows = list(
            session.scalars(
                select(Consent)
                .where(Consent.grantee_org_id == principal.org_id)
                .order_by(Consent.valid_until)
            )
        )
        views = [consent_view(services, r) for r in rows]
    return render(request, "bank/overview.html", consents=views)


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
