"""The data provider's page (R§7, R§8): the deadlines of its catalog items (a month is due on the 10th
of the next), a nil report in one click, every submission with its processing and verification
deadlines (5 working days each), the feedback report as a CSV download, and the verification."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy import select

from fincredit.platform.catalog import current_version, items_of
from fincredit.platform.core.db import utcnow
from fincredit.platform.core.deps import ServicesDep
from fincredit.platform.core.errors import FincreditError, NotFound
from fincredit.platform.core.web.deps import PREFIX, page, render
from fincredit.platform.core.workdays import workdays_between
from fincredit.platform.identity.principal import Principal
from fincredit.platform.ingestion import (
    compliance,
    feedback_csv_chunks,
    file_nil_report,
    local_date,
    record_verification,
)
from fincredit.platform.ingestion.tables import Submission

router = APIRouter(prefix=f"{PREFIX}/provider", include_in_schema=False)
Reader = Annotated[Principal, Depends(page("submissions", "read"))]
Writer = Annotated[Principal, Depends(page("submissions", "write"))]
MONTHS_SHOWN = 4  # the current month and the three before it


def _month(day: dt.date, back: int) -> str:
    y, m = day.year, day.month - back
    while m < 1:
        y, m = y - 1, m + 12
    return f"{y:04d}-{m:02d}"


def _deadlines(session: Any, org_id: str, today: dt.date) -> list[dict[str, Any]]:
    """Per owned catalog item and recent month: its due date, status and days left (calendar days:
    R§7 sets a date, the 10th, not a count of working days)."""
    rows = compliance(
        session,
        first=_month(today, MONTHS_SHOWN - 1),
        last=_month(today, 0),
        today=today,
        provider_org_id=org_id,
    )
    rows.sort(key=lambda r: (r.due_date, r.item_code))
    return [
        {
            "item_code": r.item_code,
            "month": r.month,
            "due_date": r.due_date,
            "status": r.status,
            "days_left": (r.due_date - today).days,
            "submission_ids": r.submission_ids,
            "can_file_nil": r.status in ("open", "missing"),
        }
        for r in rows
    ]


def _submission_row(s: Submission, today: dt.date) -> dict[str, Any]:
    waiting = s.verification_due is not None and s.verified_at is None
    return {
        "s": s,
        "verify_pending": waiting,
        "verify_overdue": waiting and s.verification_due is not None and s.verification_due < today,
        "verify_workdays_left": (
            workdays_between(today, s.verification_due) if waiting and s.verification_due else None
        ),
        "processing_overdue": s.processed_at is None and s.processing_due < today,
    }


@router.get("", response_class=HTMLResponse)
def provider_page(request: Request, services: ServicesDep, principal: Reader) -> HTMLResponse:
    today = local_date(utcnow())
    org_id = principal.org_id or ""
    with services.read() as session:
        subs = list(
            session.scalars(
                select(Submission)
                .where(Submission.provider_org_id == org_id)
                .order_by(Submission.id.desc())
                .limit(200)
            )
        )
        deadlines = _deadlines(session, org_id, today)
        names = {i.code: i.name for i in items_of(session, current_version(session))}
    upcoming = [d for d in deadlines if d["status"] in ("open", "missing")]
    return render(
        request,
        "provider/submissions.html",
        submissions=[_submission_row(s, today) for s in subs],
        deadlines=deadlines,
        next_due=min((d["due_date"] for d in upcoming if d["status"] == "open"), default=None),
        missing=[d for d in upcoming if d["status"] == "missing"],
        today=today,
        names=names,
        notice=request.query_params.get("notice"),
    )


@router.get("/submissions/{submission_id}/feedback.csv")
def feedback_download(submission_id: int, services: ServicesDep, principal: Reader) -> Response:
    """The row-level feedback report (R§8) of one of the provider's own submissions, as a CSV file
    (with a byte-order mark, so a spreadsheet program shows the Chinese reasons correctly)."""
    with services.read() as session:
        sub = session.get(Submission, submission_id)
        if sub is None or sub.provider_org_id != principal.org_id:
            raise NotFound(f"no submission {submission_id} of yours")
        name = f"feedback-{sub.item_code}-{sub.month}-{sub.id}.csv"
    return StreamingResponse(
        feedback_csv_chunks(services, submission_id, bom=True, words=True),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/submissions/{submission_id}/verification")
def verify(
    submission_id: int,
    request: Request,
    services: ServicesDep,
    principal: Writer,
    note: Annotated[str, Form()] = "",
) -> Response:
    """R§8: the provider has checked the feedback report (within 5 working days of it)."""
    try:
        with services.tx() as session:
            record_verification(
                session, provider_org_id=principal.org_id or "", submission_id=submission_id, note=note[:2000]
            )
    except FincreditError as exc:
        return render(request, "message.html", status_code=exc.status, title=exc.title, text=exc.detail)
    return RedirectResponse(f"{PREFIX}/provider?notice=verified#s-{submission_id}", status_code=303)


@router.post("/nil")
def nil_report(
    request: Request,
    services: ServicesDep,
    principal: Writer,
    item_code: Annotated[str, Form(max_length=64)] = "",
    month: Annotated[str, Form(max_length=7)] = "",
) -> Response:
    """R§7: a month with nothing new for an item is reported as such (filing it again changes nothing)."""
    try:
        file_nil_report(
            services,
            provider_org_id=principal.org_id or "",
            item_code=item_code,
            month=month,
            channel="web",
            submitted_by=principal.account_id,
        )
    except FincreditError as exc:
        return render(request, "message.html", status_code=exc.status, title=exc.title, text=exc.detail)
    return RedirectResponse(f"{PREFIX}/provider?notice=nil#d-{item_code}-{month}", status_code=303)
