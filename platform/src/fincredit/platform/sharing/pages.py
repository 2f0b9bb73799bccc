"""Government-sharing agreements as pages (R§12-15): the operator writes an agreement with a department
(items, agreed purpose, modes, validity) in a form; the provider of each conditional item approves sharing
it under the agreement with one click and a note; the operator, regulators, the department and the
providers concerned read the agreements in words — which items, by whom approved, whether in force and,
if not, why."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from fincredit.platform.catalog import current_version, items_of
from fincredit.platform.core.db import Organisation, utcnow
from fincredit.platform.core.deps import ServicesDep
from fincredit.platform.core.errors import FincreditError
from fincredit.platform.core.web.deps import PREFIX, lang_of, page, render
from fincredit.platform.core.web.formats import SHANGHAI
from fincredit.platform.core.web.i18n import translator
from fincredit.platform.identity.principal import Principal
from fincredit.platform.sharing import MODES, agreement_view, approve, create_agreement
from fincredit.platform.sharing.tables import SharingAgreement, SharingApproval

router = APIRouter(prefix=f"{PREFIX}/sharing", include_in_schema=False)
Reader = Annotated[Principal, Depends(page("gov_sharing", "read"))]
Manager = Annotated[Principal, Depends(page("gov_sharing", "manage"))]
Approver = Annotated[Principal, Depends(page("gov_sharing", "approve"))]


def _status(view: dict[str, Any], now: dt.datetime) -> str:
    if view["terminated_at"] is not None:
        return "terminated"
    if now < view["valid_from"]:
        return "not_yet_valid"
    if now >= view["valid_until"]:
        return "expired"
    return "awaiting_provider_approval" if view["pending_approvals"] else "active"


def _agreements(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """The agreements this account may read: all for the operator and supervisors; for a department or a
    provider, those that name it or one of its items (approved or not)."""
    catalog = {i.code: i for i in items_of(session, current_version(session))}
    approvals: dict[str, list[SharingApproval]] = {}
    for a in session.scalars(select(SharingApproval).order_by(SharingApproval.approved_at)):
        approvals.setdefault(a.agreement_id, []).append(a)
    now = utcnow()
    views = []
    for row in session.scalars(select(SharingAgreement).order_by(SharingAgreement.created_at.desc())):
        view = agreement_view(session, row, now)
        view["status"] = _status(view, now)
        view["approvals"] = approvals.get(row.id, [])
        view["conditional"] = [c for c in row.items if c in catalog and catalog[c].sharing == "conditional"]
        view["providers"] = {catalog[c].provider_org_id for c in row.items if c in catalog}
        views.append(view)
    if principal.is_operator or principal.org_kind in ("regulator", "credit_authority"):
        return views
    return [
        v for v in views if v["department_org_id"] == principal.org_id or principal.org_id in v["providers"]
    ]


@router.get("", response_class=HTMLResponse)
def agreements_page(request: Request, services: ServicesDep, principal: Reader) -> HTMLResponse:
    with services.read() as session:
        views = _agreements(session, principal)
    return render(
        request,
        "sharing/agreements.html",
        agreements=views,
        can_manage=services.authz.enforce(principal, "gov_sharing", "manage"),
        can_approve=services.authz.enforce(principal, "gov_sharing", "approve"),
        notice=request.query_params.get("notice"),
    )


def _form_context(session: Session) -> dict[str, Any]:
    departments = list(
        session.scalars(
            select(Organisation)
            .where(Organisation.kind == "data_provider", Organisation.active.is_(True))
            .order_by(Organisation.name)
        )
    )
    return {
        "departments": departments,
        "items": items_of(session, current_version(session)),
        "modes": MODES,
    }


@router.get("/new", response_class=HTMLResponse)
def new_agreement_form(request: Request, services: ServicesDep, principal: Manager) -> HTMLResponse:
    today = dt.datetime.now(SHANGHAI).date()
    with services.read() as session:
        context = _form_context(session)
    form = {
        "department": "",
        "items": [],
        "purpose": "",
        "modes": [],
        "valid_from": today.isoformat(),
        "valid_until": today.replace(year=today.year + 1).isoformat(),
        "region": "",
    }
    return render(request, "sharing/new.html", form=form, errors={}, **context)


def _day_start(text: str) -> dt.datetime | None:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return None
    return dt.datetime.combine(day, dt.time(), SHANGHAI).astimezone(dt.UTC)


@router.post("")
async def create(request: Request, services: ServicesDep, principal: Manager) -> Response:
    """Check the form field by field (the service checks again), then write the agreement."""
    form = await request.form()
    values: dict[str, Any] = {
        "department": str(form.get("department") or "")[:64],
        "items": [str(v)[:64] for v in form.getlist("items")][:64],
        "purpose": str(form.get("purpose") or "").strip()[:200],
        "modes": [str(v) for v in form.getlist("modes") if str(v) in MODES],
        "valid_from": str(form.get("valid_from") or "")[:10],
        "valid_until": str(form.get("valid_until") or "")[:10],
        "region": str(form.get("region") or "").strip()[:12],
    }
    errors: dict[str, str] = {}
    with services.read() as session:
        context = _form_context(session)
    if values["department"] not in {d.id for d in context["departments"]}:
        errors["department"] = "sharing.problem.department"
    if not values["items"]:
        errors["items"] = "sharing.problem.items"
    if not values["purpose"]:
        errors["purpose"] = "sharing.problem.purpose"
    if not values["modes"]:
        errors["modes"] = "sharing.problem.modes"
    start, end = _day_start(values["valid_from"]), _day_start(values["valid_until"])
    if start is None or end is None or end <= start:
        errors["valid_until"] = "sharing.problem.dates"
    if values["region"] and not values["region"].isdigit():
        errors["region"] = "sharing.problem.region"
    if not errors:
        assert start is not None and end is not None
        spec = {
            "department_org_id": values["department"],
            "items": values["items"],
            "purpose": values["purpose"],
            "modes": values["modes"],
            "population": {"region_prefix": values["region"]} if values["region"] else {},
            "valid_from": start,
            "valid_until": end + dt.timedelta(days=1),  # the end day is included
        }
        try:
            with services.tx() as session:
                agreement_id = create_agreement(session, principal, spec).id
        except FincreditError as exc:
            errors["items"] = exc.detail
        else:
            return RedirectResponse(f"{PREFIX}/sharing?notice=created#a-{agreement_id}", status_code=303)
    return render(request, "sharing/new.html", status_code=422, form=values, errors=errors, **context)


@router.post("/{agreement_id}/approvals")
def approve_item(
    agreement_id: str,
    request: Request,
    services: ServicesDep,
    principal: Approver,
    item: Annotated[str, Form(max_length=64)],
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """The provider of a conditional item approves sharing it under the agreement (R§13)."""
    try:
        with services.tx() as session:
            approve(session, principal, agreement_id, item, note.strip())
    except FincreditError as exc:
        t = translator(lang_of(request))
        return render(
            request, "message.html", status_code=exc.status, title=t("sharing.refused"), text=exc.detail
        )
    return RedirectResponse(f"{PREFIX}/sharing?notice=approved#a-{agreement_id}", status_code=303)
