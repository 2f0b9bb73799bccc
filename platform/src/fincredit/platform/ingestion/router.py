"""Provider submissions over HTTP (R§7, R§8): streamed file upload or nil report, the feedback report,
the provider's verification, and the late / missing / overdue lists supervision reads."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from fincredit.platform.core.db import utcnow
from fincredit.platform.core.deps import ServicesDep, allowed, require
from fincredit.platform.core.errors import Forbidden, InvalidInput, NotFound, PayloadTooLarge
from fincredit.platform.core.schemas import RowId
from fincredit.platform.core.services import Services
from fincredit.platform.identity.principal import Principal
from fincredit.platform.ingestion import (
    compliance,
    feedback_csv_chunks,
    file_nil_report,
    ingest_file,
    local_date,
    overdue,
    record_verification,
)
from fincredit.platform.ingestion.schemas import (
    FeedbackRow,
    MonthStatusOut,
    NilReportIn,
    SubmissionOut,
    VerificationIn,
)
from fincredit.platform.ingestion.tables import Submission, SubmissionFeedback

router = APIRouter(prefix="/api/v1/submissions", tags=["submissions"])
MonthQuery = Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]
_CONTENT_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/vnd.apache.arrow.file": "arrow",
    "application/vnd.apache.arrow.stream": "arrow",
}


def _provider(principal: Principal) -> str:
    if principal.org_id is None:
        raise Forbidden("only an organisation's account can submit")
    return principal.org_id


def _sees_all(services: Services, principal: Principal) -> bool:
    return allowed(services, principal, "submissions", "read_all")


def _visible(services: Services, principal: Principal, sub: Submission | None, sub_id: int) -> Submission:
    if sub is None or (sub.provider_org_id != principal.org_id and not _sees_all(services, principal)):
        raise NotFound(f"no submission {sub_id}")
    return sub


@router.post("", response_model=SubmissionOut, status_code=201)
async def upload_submission(
    request: Request,
    response: Response,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("submissions", "write"))],
    item: Annotated[str, Query(max_length=64, description="catalog item code")],
    month: MonthQuery,
    file_format: Annotated[
        Literal["csv", "parquet", "arrow"] | None,
        Query(alias="format", description="default: from Content-Type, else sniffed"),
    ] = None,
    filename: Annotated[str | None, Query(max_length=255)] = None,
) -> SubmissionOut:
    """Upload a month's file for one catalog item as the raw request body (CSV, Parquet or Arrow IPC).
    The body is streamed to disk (size-limited), then validated, cleaned, matched and loaded.
    201 with the outcome; 200 with the earlier submission if this exact file was processed already;
    422 ``submission-rejected`` (nothing stored) if the file is structurally wrong."""
    provider = _provider(principal)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = file_format or _CONTENT_TYPES.get(ctype)
    limit = services.settings.max_upload_bytes
    fd, name = tempfile.mkstemp(prefix="submission-", suffix=f".{fmt or 'upload'}")
    path = Path(name)
    try:
        size = 0
        with os.fdopen(fd, "wb") as fh:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"the file exceeds the upload limit of {limit} bytes")
                fh.write(chunk)
        if size == 0:
            raise InvalidInput("the request body is empty: send the file as the body")
        result = await run_in_threadpool(
            lambda: ingest_file(
                services,
                provider_org_id=provider,
                item_code=item,
                month=month,
                path=path,
                filename=filename,
                file_format=fmt,
                channel="api",
                submitted_by=principal.account_id,
            )
        )
    finally:
        path.unlink(missing_ok=True)
    if result.duplicate:
        response.status_code = 200
    with services.read() as session:
        sub = session.get(Submission, result.submission_id)
        assert sub is not None
        return SubmissionOut.of(sub, duplicate=result.duplicate)


@router.post("/nil", response_model=SubmissionOut, status_code=201)
def nil_report(
    body: NilReportIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("submissions", "write"))],
) -> SubmissionOut:
    """R§7: report that a month has nothing new for an item (filing it again returns the first)."""
    sub = file_nil_report(
        services,
        provider_org_id=_provider(principal),
        item_code=body.item_code,
        month=body.month,
        submitted_by=principal.account_id,
    )
    return SubmissionOut.of(sub)


@router.get("", response_model=list[SubmissionOut])
def list_submissions(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("submissions", "read"))],
    provider: Annotated[str | None, Query(max_length=64)] = None,
    item: Annotated[str | None, Query(max_length=64)] = None,
    month: Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[SubmissionOut]:
    """Submissions, newest first: a provider sees its own; supervisors see every provider's."""
    if not _sees_all(services, principal):
        provider = principal.org_id
    q = select(Submission).order_by(Submission.id.desc()).limit(limit)
    if provider:
        q = q.where(Submission.provider_org_id == provider)
    if item:
        q = q.where(Submission.item_code == item)
    if month:
        q = q.where(Submission.month == month)
    with services.read() as session:
        return [SubmissionOut.of(s) for s in session.scalars(q)]


@router.get("/compliance", response_model=list[MonthStatusOut])
def submission_compliance(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("submissions", "read"))],
    first: Annotated[str, Query(alias="from", pattern=r"^\d{4}-(0[1-9]|1[0-2])$")],
    last: Annotated[str, Query(alias="to", pattern=r"^\d{4}-(0[1-9]|1[0-2])$")],
    provider: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(description="e.g. late or missing")] = None,
) -> list[MonthStatusOut]:
    """Per provider, catalog item and month: on time, late, nil, missing (due the 10th of the next month)."""
    if not _sees_all(services, principal):
        provider = principal.org_id
    with services.read() as session:
        rows = compliance(
            session, first=first, last=last, today=local_date(utcnow()), provider_org_id=provider
        )
    return [
        MonthStatusOut(
            provider_org_id=r.provider_org_id,
            item_code=r.item_code,
            month=r.month,
            due_date=r.due_date,
            status=r.status,
            submission_ids=list(r.submission_ids),
        )
        for r in rows
        if status is None or r.status == status
    ]


@router.get("/overdue", response_model=list[SubmissionOut])
def overdue_submissions(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("submissions", "read"))],
    on: Annotated[dt.date | None, Query(description="as of this date (default today, China time)")] = None,
) -> list[SubmissionOut]:
    """R§8: submissions processed later than 5 working days after receipt, or whose feedback the
    provider has not verified within 5 working days."""
    provider = None if _sees_all(services, principal) else principal.org_id
    with services.read() as session:
        found = overdue(session, today=on or local_date(utcnow()), provider_org_id=provider)
        return [SubmissionOut.of(s) for s in found]


@router.get("/{submission_id}", response_model=SubmissionOut)
def get_submission(
    submission_id: RowId,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("submissions", "read"))],
) -> SubmissionOut:
    with services.read() as session:
        return SubmissionOut.of(
            _visible(services, principal, session.get(Submission, submission_id), submission_id)
        )


@router.get("/{submission_id}/feedback", response_model=list[FeedbackRow])
def submission_feedback(
    submission_id: RowId,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("submissions", "read"))],
    fmt: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> Response | list[FeedbackRow]:
    """The feedback report (R§8): every rejected row with the field and the reason (``row`` is the
    0-based data row of the file; a CSV file's line number is row + 2)."""
    with services.read() as session:
        _visible(services, principal, session.get(Submission, submission_id), submission_id)
        if fmt == "json":
            q = (
                select(SubmissionFeedback)
                .where(SubmissionFeedback.submission_id == submission_id)
                .order_by(SubmissionFeedback.row, SubmissionFeedback.id)
            )
            return [
                FeedbackRow(
                    row=fb.row,
                    provider_record_id=fb.provider_record_id,
                    field=fb.field,
                    reason=fb.reason,
                    detail=fb.detail,
                )
                for fb in session.scalars(q)
            ]
    return StreamingResponse(
        feedback_csv_chunks(services, submission_id),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="submission-{submission_id}-feedback.csv"'},
    )


@router.post("/{submission_id}/verification", response_model=SubmissionOut)
def verify_submission(
    submission_id: RowId,
    body: VerificationIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("submissions", "write"))],
) -> SubmissionOut:
    """R§8: the provider has checked the feedback report (within 5 working days of it)."""
    with services.tx() as session:
        sub = record_verification(
            session, provider_org_id=principal.org_id or "", submission_id=submission_id, note=body.note
        )
        return SubmissionOut.of(sub)
