"""The provider uploads a month's file from the web page (R§7) and reads the outcome there (R§8): a form
with the provider's own catalog items and the months still open, a progress bar while the file travels
(plain JavaScript; without it the form still posts), then the submission's page with its counts and the
rejected rows one by one — row number, record, field and reason in words — besides the CSV download."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from fincredit.platform.catalog import current_version, items_of
from fincredit.platform.core.db import utcnow
from fincredit.platform.core.deps import ServicesDep
from fincredit.platform.core.errors import FincreditError, NotFound
from fincredit.platform.core.web.deps import PREFIX, lang_of, page, render
from fincredit.platform.core.web.i18n import translator
from fincredit.platform.identity.principal import Principal
from fincredit.platform.ingestion._pipeline import ingest_file, local_date
from fincredit.platform.ingestion.tables import Submission, SubmissionFeedback

router = APIRouter(prefix=f"{PREFIX}/provider", include_in_schema=False)
Reader = Annotated[Principal, Depends(page("submissions", "read"))]
Writer = Annotated[Principal, Depends(page("submissions", "write"))]
FEEDBACK_PAGE = 100
UPLOAD_PATH = f"{PREFIX}/provider/upload"


def _months(today: dt.date, back: int = 3) -> list[str]:
    """The months a provider may report now: this one and the few before (late ones are accepted and
    marked late)."""
    out = []
    y, m = today.year, today.month
    for _ in range(back + 1):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out


def _form_context(session: Any, principal: Principal) -> dict[str, Any]:
    today = local_date(utcnow())
    items = [i for i in items_of(session, current_version(session)) if i.provider_org_id == principal.org_id]
    months = _months(today)
    return {"items": items, "months": months, "default_month": months[1]}


@router.get("/upload", response_class=HTMLResponse)
def upload_form(request: Request, services: ServicesDep, principal: Writer) -> HTMLResponse:
    with services.read() as session:
        context = _form_context(session, principal)
    return render(request, "provider/upload.html", error=None, **context)


@router.post("/upload")
async def upload(
    request: Request,
    services: ServicesDep,
    principal: Writer,
    item_code: Annotated[str, Form(max_length=64)],
    month: Annotated[str, Form(max_length=7)],
    file: Annotated[UploadFile, File()],
) -> Response:
    """Take the file (already spooled to disk by the form parser), process it as the API does, and go
    to its page; a script that asked for JSON gets the page's address instead of a redirect."""
    wants_json = "application/json" in request.headers.get("accept", "")
    suffix = Path(file.filename or "upload").suffix[:10]
    with tempfile.NamedTemporaryFile(prefix="web-submission-", suffix=suffix, delete=False) as out:
        shutil.copyfileobj(file.file, out, 1024 * 1024)
        path = Path(out.name)
    try:
        if path.stat().st_size == 0:
            return await _refused(request, services, principal, wants_json, "provider.upload.empty")
        result = await run_in_threadpool(
            lambda: ingest_file(
                services,
                provider_org_id=principal.org_id or "",
                item_code=item_code,
                month=month,
                path=path,
                filename=(file.filename or "")[:255] or None,
                channel="web",
                submitted_by=principal.account_id,
            )
        )
    except FincreditError as exc:
        return await _refused(request, services, principal, wants_json, None, exc.detail, exc.status)
    finally:
        path.unlink(missing_ok=True)
    target = f"{PREFIX}/provider/submissions/{result.submission_id}" + (
        "?duplicate=1" if result.duplicate else ""
    )
    if wants_json:
        return JSONResponse(
            {"submission_id": result.submission_id, "url": target, "duplicate": result.duplicate}
        )
    return RedirectResponse(target, status_code=303)


async def _refused(
    request: Request,
    services: ServicesDep,
    principal: Principal,
    wants_json: bool,
    key: str | None,
    detail: str | None = None,
    status: int = 422,
) -> Response:
    if wants_json:
        text = detail or translator(lang_of(request))(key or "provider.upload.refused")
        return JSONResponse({"error": text}, status_code=status)
    with services.read() as session:
        context = _form_context(session, principal)
    return render(request, "provider/upload.html", status_code=status, error=detail, error_key=key, **context)


@router.get("/submissions/{submission_id}", response_class=HTMLResponse)
def submission_page(
    request: Request,
    services: ServicesDep,
    principal: Reader,
    submission_id: int,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> HTMLResponse:
    """One submission's outcome and its rejected rows, a hundred at a time, in the order of the file."""
    with services.read() as session:
        sub = session.get(Submission, submission_id)
        if sub is None or sub.provider_org_id != principal.org_id:
            raise NotFound(f"no submission {submission_id} of yours")
        feedback = list(
            session.scalars(
                select(SubmissionFeedback)
                .where(SubmissionFeedback.submission_id == submission_id)
                .order_by(SubmissionFeedback.row, SubmissionFeedback.id)
                .offset(offset)
                .limit(FEEDBACK_PAGE)
            )
        )
        problems = int(
            session.scalar(
                select(func.count())
                .select_from(SubmissionFeedback)
                .where(SubmissionFeedback.submission_id == submission_id)
            )
            or 0
        )
        session.expunge_all()
    return render(
        request,
        "provider/submission.html",
        s=sub,
        feedback=feedback,
        problems=problems,
        offset=offset,
        page_size=FEEDBACK_PAGE,
        duplicate=request.query_params.get("duplicate") == "1",
    )
