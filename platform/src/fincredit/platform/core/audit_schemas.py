"""Response bodies of the audit trail route."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel


class AuditEventOut(BaseModel):
    id: int
    at: dt.datetime
    request_id: str
    account_id: str | None
    org_id: str | None
    method: str
    route: str
    path: str
    subject_ref: str | None
    status: int
    outcome: str
    duration_ms: float


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    next_cursor: int | None
