"""The borrower's records as public query shows them, with objections (R§10): file one in a form,
follow its steps and deadlines."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fincredit.platform.catalog import current_version, items_of
from fincredit.platform.core.db import utcnow
from fincredit.platform.core.deps import ServicesDep, set_audit_subject
from fincredit.platform.core.errors import FincreditError, NotFound
from fincredit.platform.core.web.deps import PREFIX, page, render
from fincredit.platform.identity.principal import Principal
from fincredit.platform.ingestion import visible_records
from fincredit.platform.market import china_date
from fincredit.platform.objections import file_objection, get_objection, list_objections, objection_status

router = APIRouter(prefix=f"{PREFIX}/borrower/objections", include_in_schema=False)


def _subject(principal: Principal) -> int:
    if principal.subject_id is None:
        raise NotFound("this account is not linked to a credit subject")
    return principal.subject_id


@router.get("", response_class=HTMLResponse)
def objections_page(
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(page("own_objections", "read"))],
) -> HTMLResponse:
    subject_id = _subject(principal)
    with services.read() as session:
        records = visible_records(session, subject_id, china_date(utcnow()))
        disputed = objection_status(session, [r.id for r in records])
        mine = [get_objection(session, o.id) for o in list_objections(session, subject_id=subject_id)]
        # A borrower reads their records under the catalog's Chinese titles, not its codes.
        items = items_of(session, current_version(session))
    return render(
        request,
        "borrower/objections.html",
        records=records,
        disputed=disputed,
        objections=mine,
        error=request.query_params.get("error"),
        item_names={i.code: i.name for i in items},
        field_titles={i.code: {f.name: f.title for f in i.all_fields} for i in items},
    )


@router.post("")
def file(
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(page("own_objections", "write"))],
    record_id: Annotated[int, Form()],
    reason: Annotated[str, Form(max_length=2000)],
) -> Response:
    subject_id = _subject(principal)
    set_audit_subject(request, subject_id)
    try:
        with services.tx() as session:
            file_objection(
                session,
                subject_id=subject_id,
                record_id=record_id,
                reason=reason,
                filed_by=principal.account_id,
            )
    except FincreditError as exc:
        return render(request, "message.html", status_code=exc.status, title=exc.title, text=exc.detail)
    return RedirectResponse(f"{PREFIX}/borrower/objections", status_code=303)
