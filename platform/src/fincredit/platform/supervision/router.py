"""Supervision (G§18-22, R§22) for the credit authority and regulators: the monthly operations report
(JSON, CSV, PDF), the annual evaluation figures, plan filings, security inspections and the expert pool.
The platform operator files plans and records remediation; supervisors read everything."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import Field

from fincredit.platform.core.deps import ServicesDep, require
from fincredit.platform.core.errors import InvalidInput
from fincredit.platform.core.schemas import RowId, Strict
from fincredit.platform.identity.principal import Principal
from fincredit.platform.supervision import (
    add_expert,
    annual_evaluation,
    experts,
    file_plan,
    inspection_view,
    inspections,
    monthly_report,
    plans,
    record_inspection,
    remediate,
    report_csv,
    report_pdf,
    report_xlsx,
)

router = APIRouter(prefix="/api/v1/supervision", tags=["supervision"])


class PlanIn(Strict):
    year: int = Field(ge=2000, le=2100)
    kind: Literal["work_plan", "product_plan"]
    title: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1, max_length=100_000)


class FindingIn(Strict):
    severity: Literal["low", "medium", "high", "critical"]
    text: str = Field(min_length=1, max_length=2000)
    remediation_due: dt.date | None = None


class InspectionIn(Strict):
    inspected_org_id: str = Field(max_length=64)
    inspected_on: dt.date
    inspector: str = Field(min_length=1, max_length=200)
    findings: list[FindingIn]


class RemediationIn(Strict):
    remediation: str = Field(min_length=1, max_length=2000)
    remediated_on: dt.date


class ExpertIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    field: str = Field(min_length=1, max_length=100)
    affiliation: str = Field(min_length=1, max_length=200)


Reader = Annotated[Principal, Depends(require("supervision", "read"))]


@router.get("/reports/monthly/{period}")
def operations_report(
    period: str,
    services: ServicesDep,
    principal: Reader,
    format: Annotated[Literal["json", "csv", "pdf", "xlsx"], Query()] = "json",
) -> Any:
    """The monthly operations report generated from the data, as JSON, CSV, PDF or XLSX (the last three
    in Chinese tables with a written summary)."""
    if len(period) != 7 or period[4] != "-":
        raise InvalidInput("period is YYYY-MM")
    with services.read() as session:
        report = monthly_report(session, period)
    name = f"operations-report-{period}"
    if format == "csv":
        return Response(
            report_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if format == "xlsx":
        return Response(
            report_xlsx(report),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
        )
    if format == "pdf":
        return Response(
            report_pdf(report),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
        )
    return report


@router.get("/reports/annual/{year}")
def evaluation(
    year: Annotated[int, Path(ge=2000, le=2100)], services: ServicesDep, principal: Reader
) -> dict[str, Any]:
    with services.read() as session:
        return annual_evaluation(session, year)


@router.post("/plans", status_code=201)
def new_plan(
    body: PlanIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("supervision", "file"))],
) -> dict[str, Any]:
    """File the annual work plan or product plan (G§19)."""
    with services.tx() as session:
        row = file_plan(session, principal, body.model_dump())
        return {
            "id": row.id,
            "year": row.year,
            "kind": row.kind,
            "title": row.title,
            "filed_at": row.filed_at,
        }


@router.get("/plans")
def list_plans(
    services: ServicesDep, principal: Reader, year: Annotated[int | None, Query(ge=2000, le=2100)] = None
) -> list[dict[str, Any]]:
    with services.read() as session:
        return [
            {
                "id": p.id,
                "org_id": p.org_id,
                "year": p.year,
                "kind": p.kind,
                "title": p.title,
                "content": p.content,
                "filed_at": p.filed_at,
            }
            for p in plans(session, year)
        ]


@router.post("/inspections", status_code=201)
def new_inspection(
    body: InspectionIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("supervision", "inspect"))],
) -> dict[str, Any]:
    with services.tx() as session:
        spec = body.model_dump(mode="json")
        spec["inspected_on"] = body.inspected_on
        return inspection_view(record_inspection(session, principal, spec))


@router.post("/inspections/{inspection_id}/findings/{finding_id}/remediation")
def remediation(
    inspection_id: str,
    finding_id: RowId,
    body: RemediationIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("supervision", "remediate"))],
) -> dict[str, Any]:
    with services.tx() as session:
        return inspection_view(
            remediate(session, inspection_id, finding_id, body.remediation, body.remediated_on)
        )


@router.get("/inspections")
def list_inspections(services: ServicesDep, principal: Reader) -> list[dict[str, Any]]:
    with services.read() as session:
        return [inspection_view(r) for r in inspections(session)]


@router.post("/experts", status_code=201)
def new_expert(
    body: ExpertIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("supervision", "experts"))],
) -> dict[str, Any]:
    with services.tx() as session:
        row = add_expert(session, body.model_dump())
        return {"id": row.id, "name": row.name, "field": row.field, "affiliation": row.affiliation}


@router.get("/experts")
def list_experts(
    services: ServicesDep, principal: Reader, field: Annotated[str | None, Query(max_length=100)] = None
) -> list[dict[str, Any]]:
    with services.read() as session:
        return [
            {"id": e.id, "name": e.name, "field": e.field, "affiliation": e.affiliation}
            for e in experts(session, field)
        ]
