"""The supervisor's pages (G§18-22, R§22): the monthly operations report for a chosen month, readable
on the page and downloadable as the service produces it (PDF, CSV, JSON); the annual evaluation
figures; and the supervision records —
security inspections with their findings and remediation, plan filings, objections past their
deadline, the expert pool — with filters."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from fincredit.platform.core.db import utcnow
from fincredit.platform.core.deps import ServicesDep
from fincredit.platform.core.web.deps import PREFIX, lang_of, page, render
from fincredit.platform.core.workdays import missing_calendar_year
from fincredit.platform.identity.principal import Principal
from fincredit.platform.market import china_date
from fincredit.platform.objections import list_objections
from fincredit.platform.supervision import (
    PLAN_KINDS,
    SEVERITIES,
    annual_evaluation,
    experts,
    inspection_view,
    inspections,
    monthly_report,
    plans,
    report_sections,
    report_summary,
)

router = APIRouter(prefix=f"{PREFIX}/regulator", include_in_schema=False)
Supervisor = Annotated[Principal, Depends(page("supervision", "read"))]

PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _this_month() -> str:
    """The month running in Beijing, so the page opens on figures that move (and match the records
    page); the previous months are one choice away."""
    return china_date(utcnow()).strftime("%Y-%m")


@router.get("/report", response_class=HTMLResponse)
def report_page(
    request: Request,
    services: ServicesDep,
    _: Supervisor,
    period: Annotated[str, Query(max_length=7)] = "",
) -> HTMLResponse:
    """The current month unless another is chosen; an unreadable month is said so, not a 422."""
    period = period or _this_month()
    if not PERIOD.match(period):
        return render(
            request, "regulator/report.html", period=period, report=None, error=True, status_code=400
        )
    with services.read() as session:
        report = monthly_report(session, period)
    return render(
        request,
        "regulator/report.html",
        period=period,
        report=report,
        sections=report_sections(report, lang_of(request)),
        summary=report_summary(report, lang_of(request)),
        error=False,
    )


@router.get("/report/annual", response_class=HTMLResponse)
def annual_page(
    request: Request,
    services: ServicesDep,
    _: Supervisor,
    year: Annotated[str, Query(max_length=4)] = "",
) -> HTMLResponse:
    """The annual evaluation figures (G§21) of the last complete year unless another is chosen."""
    year = year or str(utcnow().year - 1)
    if not (year.isdigit() and len(year) == 4):
        return render(request, "regulator/annual.html", year=year, figures=None, error=True, status_code=400)
    with services.read() as session:
        figures = annual_evaluation(session, int(year))
    return render(request, "regulator/annual.html", year=year, figures=figures, error=False)


def _int(value: str) -> int | None:
    return int(value) if value.isdigit() else None


@router.get("/supervision", response_class=HTMLResponse)
def supervision_page(
    request: Request,
    services: ServicesDep,
    _: Supervisor,
    org: Annotated[str, Query(max_length=64)] = "",
    year: Annotated[str, Query(max_length=4)] = "",
    severity: Annotated[str, Query(max_length=16)] = "",
    open_only: Annotated[str, Query(alias="open", max_length=3)] = "",
    kind: Annotated[str, Query(max_length=16)] = "",
    field: Annotated[str, Query(max_length=100)] = "",
) -> HTMLResponse:
    the_year = _int(year)
    severity = severity if severity in SEVERITIES else ""
    kind = kind if kind in PLAN_KINDS else ""
    only_open = open_only == "1"
    with services.read() as session:
        found = []
        for row in inspections(session):
            if org and row.inspected_org_id != org:
                continue
            if the_year and row.inspected_on.year != the_year:
                continue
            view = inspection_view(row)
            findings = [
                f
                for f in view["findings"]
                if (not severity or f["severity"] == severity)
                and (not only_open or f["remediated_on"] is None)
            ]
            if (severity or only_open) and not findings:
                continue
            found.append({**view, "shown_findings": findings})
        filings = [
            p
            for p in plans(session, the_year)
            if (not org or p.org_id == org) and (not kind or p.kind == kind)
        ]
        overdue = list_objections(session, provider_org_id=org or None, overdue_only=True, limit=200)
        pool = experts(session, field or None)
    filters = {
        "org": org,
        "year": year,
        "severity": severity,
        "open": only_open,
        "kind": kind,
        "field": field,
    }
    context: dict[str, Any] = {
        "inspections": found,
        "plans": filings,
        "overdue": overdue,
        "experts": pool,
        "filters": filters,
        "severities": SEVERITIES,
        "plan_kinds": PLAN_KINDS,
        "calendar_missing_year": missing_calendar_year(),
    }
    return render(request, "regulator/supervision.html", **context)
