"""The audit trail of API operations, for regulators and the credit authority (R§20)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from fincredit.platform.core.audit_schemas import AuditEventOut, AuditPage
from fincredit.platform.core.db import AuditEvent
from fincredit.platform.core.deps import ServicesDep, require
from fincredit.platform.core.schemas import INT64_MAX
from fincredit.platform.identity.principal import Principal

router = APIRouter(prefix="/api/v1", tags=["audit"])


@router.get("/audit-events", response_model=AuditPage)
def list_audit_events(
    services: ServicesDep,
    _: Annotated[Principal, Depends(require("audit", "read"))],
    account_id: str | None = None,
    org_id: str | None = None,
    route: str | None = None,
    subject_ref: str | None = None,
    outcome: Annotated[str | None, Query(pattern="^(ok|refused|error)$")] = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    after: Annotated[
        int | None, Query(ge=0, le=INT64_MAX, description="cursor: id of the last event of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    q = select(AuditEvent).order_by(AuditEvent.id)
    for column, value in (
        (AuditEvent.account_id, account_id),
        (AuditEvent.org_id, org_id),
        (AuditEvent.route, route),
        (AuditEvent.subject_ref, subject_ref),
        (AuditEvent.outcome, outcome),
    ):
        if value is not None:
            q = q.where(column == value)
    if since is not None:
        q = q.where(AuditEvent.at >= since)
    if until is not None:
        q = q.where(AuditEvent.at < until)
    if after is not None:
        q = q.where(AuditEvent.id > after)
    with services.read() as session:
        rows = list(session.scalars(q.limit(limit + 1)))
    items = [AuditEventOut.model_validate(r, from_attributes=True) for r in rows[:limit]]
    return AuditPage(items=items, next_cursor=items[-1].id if len(rows) > limit else None)
