"""Pages over the free public-interest services (G§11): a bank's push subscriptions with their delivery
status and its matchmaking leads; a borrower's financing needs and the products matched to them."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select

from fincredit.platform.core.deps import ServicesDep
from fincredit.platform.core.services import Services
from fincredit.platform.core.web.deps import PREFIX, page, render
from fincredit.platform.free._matchmaking import leads_for_bank, matches_for_need
from fincredit.platform.free._push import subscription_view
from fincredit.platform.free._report import (
    own_report,
    register_pdf,
    render_html,
    render_pdf,
    verify_report,
    verify_upload,
)
from fincredit.platform.free.errors import ReportNotFound
from fincredit.platform.free.router import public_limited
from fincredit.platform.free.tables import FinancingNeed, PushEvent, PushSubscription
from fincredit.platform.identity.principal import Principal

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/bank/subscriptions", response_class=HTMLResponse)
def subscriptions_page(
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(page("free_push", "read"))],
) -> HTMLResponse:
    with services.read() as session:
        subs = list(
            session.scalars(
                select(PushSubscription)
                .where(PushSubscription.org_id == principal.org_id)
                .order_by(PushSubscription.created_at.desc())
                .limit(200)
            )
        )
        counts: dict[str, Counter[str]] = {s.id: Counter() for s in subs}
        last: dict[str, Any] = {}
        if subs:
            ids = [s.id for s in subs]
            for sub_id, status, n in session.execute(
                select(PushEvent.subscription_id, PushEvent.status, func.count())
                .where(PushEvent.subscription_id.in_(ids))
                .group_by(PushEvent.subscription_id, PushEvent.status)
            ):
                counts[sub_id][status] = int(n)
            for sub_id, at in session.execute(
                select(PushEvent.subscription_id, func.max(PushEvent.created_at))
                .where(PushEvent.subscription_id.in_(ids))
                .group_by(PushEvent.subscription_id)
            ):
                last[sub_id] = at
    rows = [
        {**subscription_view(s), "counts": dict(counts[s.id]), "last_event": last.get(s.id)} for s in subs
    ]
    return render(request, "bank/subscriptions.html", subscriptions=rows)


@router.get("/bank/leads", response_class=HTMLResponse)
def leads_page(
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(page("matchmaking", "leads"))],
) -> HTMLResponse:
    with services.read() as session:
        leads = leads_for_bank(session, services, principal.org_id or "")
    return render(request, "bank/leads.html", leads=leads)


@router.get("/borrower/credit-report", response_model=None)
def own_report_page(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(page("own_report", "read"))],
    format: Literal["html", "pdf"] = "html",
) -> Response:
    """The borrower's own credit report (R§9) in the browser, or as the PDF to keep or print."""
    with services.tx() as session:
        issued = own_report(session, services, principal)
        if format == "pdf":
            pdf = render_pdf(issued)
            register_pdf(session, issued.report["report_id"], pdf)
            name = f"{issued.report['report_id']}.pdf"
            return Response(
                pdf,
                media_type="application/pdf",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
    return HTMLResponse(render_html(issued))


@router.get("/borrower/matches", response_class=HTMLResponse)
def matches_page(
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(page("matchmaking", "publish_need"))],
) -> HTMLResponse:
    return render(
        request,
        "borrower/matches.html",
        problems={},
        form={},
        notice=request.query_params.get("notice"),
        **matches_context(services, principal),
    )


def matches_context(services: Services, principal: Principal) -> dict[str, Any]:
    """The borrower's needs, newest first, each with its ranked matches (for the page and its form)."""
    with services.read() as session:
        needs = list(
            session.scalars(
                select(FinancingNeed)
                .where(FinancingNeed.subject_id == principal.subject_id)
                .order_by(FinancingNeed.created_at.desc())
            )
        )
        return {"needs": [{"need": n, "matches": matches_for_need(session, n)} for n in needs]}


# A credit report PDF is a few pages; anything far larger is not one.
MAX_UPLOAD = 20 * 1024 * 1024


@router.get("/verify", response_class=HTMLResponse)
def verify_page(
    request: Request,
    services: ServicesDep,
    _: Annotated[None, Depends(public_limited("verify"))],
    report: Annotated[str | None, Query(max_length=40)] = None,
    sha256: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """Anyone holding a credit report checks it here: the QR code printed on the report opens this page
    with the report number and digest filled in; or one types them, or uploads the PDF file."""
    result: dict[str, Any] | None = None
    failed = False
    if report and sha256:
        with services.read() as session:
            try:
                result = verify_report(session, sha256=sha256, report_id=report.strip())
            except ReportNotFound:
                failed = True
    return render(
        request, "verify.html", report=report or "", sha256=sha256 or "", result=result, failed=failed
    )


@router.post("/verify", response_class=HTMLResponse)
async def verify_upload_page(
    request: Request,
    services: ServicesDep,
    _: Annotated[None, Depends(public_limited("verify"))],
    file: UploadFile,
) -> HTMLResponse:
    """The uploaded PDF: genuine when its bytes are those issued; otherwise, if it names a report that
    exists, the page says the file was changed since."""
    data = await file.read(MAX_UPLOAD + 1)
    result: dict[str, Any] | None = None
    failed = len(data) > MAX_UPLOAD
    if not failed:
        with services.read() as session:
            try:
                result = verify_upload(session, data)
            except ReportNotFound:
                failed = True
    return render(
        request, "verify.html", report="", sha256="", result=result, failed=failed, uploaded=file.filename
    )
