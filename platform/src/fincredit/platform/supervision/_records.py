"""Supervision records (G§19-20): annual work and product plan filings, security inspections with
findings and their remediation, and the expert pool."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fincredit.platform.core.db import Organisation
from fincredit.platform.core.errors import Conflict, InvalidInput, NotFound
from fincredit.platform.identity.principal import Principal
from fincredit.platform.supervision.tables import Expert, PlanFiling, SecurityInspection

PLAN_KINDS = ("work_plan", "product_plan")
SEVERITIES = ("low", "medium", "high", "critical")


def file_plan(session: Session, principal: Principal, spec: dict[str, Any]) -> PlanFiling:
    if spec["kind"] not in PLAN_KINDS:
        raise InvalidInput(f"kind is one of {PLAN_KINDS}")
    row = PlanFiling(
        id="plan_" + uuid.uuid4().hex[:16],
        org_id=principal.org_id or principal.account_id,
        year=spec["year"],
        kind=spec["kind"],
        title=spec["title"],
        content=spec["content"],
        filed_by=principal.account_id,
    )
    session.add(row)
    session.flush()
    return row


def plans(session: Session, year: int | None = None) -> list[PlanFiling]:
    q = select(PlanFiling).order_by(PlanFiling.year.desc(), PlanFiling.filed_at)
    if year is not None:
        q = q.where(PlanFiling.year == year)
    return list(session.scalars(q))


def record_inspection(session: Session, principal: Principal, spec: dict[str, Any]) -> SecurityInspection:
    if session.get(Organisation, spec["inspected_org_id"]) is None:
        raise NotFound(f"no organisation {spec['inspected_org_id']!r}")
    findings = []
    for i, f in enumerate(spec["findings"], start=1):
        if f.get("severity") not in SEVERITIES:
            raise InvalidInput(f"finding severity is one of {SEVERITIES}")
        findings.append(
            {
                "id": i,
                "severity": f["severity"],
                "text": str(f["text"]),
                "remediation_due": f.get("remediation_due"),
                "remediation": None,
                "remediated_on": None,
            }
        )
    row = SecurityInspection(
        id="insp_" + uuid.uuid4().hex[:16],
        inspected_org_id=spec["inspected_org_id"],
        inspected_on=spec["inspected_on"],
        inspector=spec["inspector"],
        findings=findings,
        recorded_by=principal.account_id,
    )
    session.add(row)
    session.flush()
    return row


def remediate(
    session: Session, inspection_id: str, finding_id: int, remediation: str, on: dt.date
) -> SecurityInspection:
    row = session.get(SecurityInspection, inspection_id)
    if row is None:
        raise NotFound(f"no inspection {inspection_id!r}")
    findings = [dict(f) for f in row.findings]
    target = next((f for f in findings if f["id"] == finding_id), None)
    if target is None:
        raise NotFound(f"inspection {inspection_id} has no finding {finding_id}")
    if target["remediated_on"] is not None:
        raise Conflict(f"finding {finding_id} was remediated on {target['remediated_on']}")
    target["remediation"], target["remediated_on"] = remediation, on.isoformat()
    row.findings = findings  # a new list, so the JSON column is written
    session.flush()
    return row


def inspection_view(row: SecurityInspection) -> dict[str, Any]:
    open_findings = [f for f in row.findings if f["remediated_on"] is None]
    return {
        "id": row.id,
        "inspected_org_id": row.inspected_org_id,
        "inspected_on": row.inspected_on,
        "inspector": row.inspector,
        "findings": row.findings,
        "open_findings": len(open_findings),
    }


def inspections(session: Session) -> list[SecurityInspection]:
    return list(session.scalars(select(SecurityInspection).order_by(SecurityInspection.inspected_on.desc())))


def add_expert(session: Session, spec: dict[str, Any]) -> Expert:
    row = Expert(id="exp_" + uuid.uuid4().hex[:16], active=True, **spec)
    session.add(row)
    session.flush()
    return row


def experts(session: Session, field: str | None = None) -> list[Expert]:
    q = select(Expert).where(Expert.active.is_(True)).order_by(Expert.field, Expert.name)
    if field:
        q = q.where(Expert.field == field)
    return list(session.scalars(q))
