"""Market data as pages (G§9, G§16): the contracts signed with vendors — datasets, allowed purposes,
rights, term, fee and whether each is in force — the versions of each dataset as delivered (rows, matched
subjects, checksum, the contract it came under) and how the platform used it (the derived products built
from it). A vendor sees its own; the operator and supervisors see every vendor's; the operator registers a
contract in a form and ends one early."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from fincredit.consent import Purpose
from fincredit.platform.core.db import Organisation, utcnow
from fincredit.platform.core.deps import ServicesDep
from fincredit.platform.core.errors import FincreditError
from fincredit.platform.core.web.deps import PREFIX, lang_of, page, render
from fincredit.platform.core.web.i18n import translator
from fincredit.platform.identity.principal import Principal
from fincredit.platform.market import (
    DatasetTerms,
    china_date,
    datasets_for_purpose,
    list_contracts,
    list_versions,
    register_contract,
    terminate_contract,
)
from fincredit.platform.market.tables import DerivationSource, DerivedProduct

router = APIRouter(prefix=f"{PREFIX}/market", include_in_schema=False)
Reader = Annotated[Principal, Depends(page("market_contracts", "read"))]
Writer = Annotated[Principal, Depends(page("market_contracts", "write"))]


def _status(contract: Any, now: dt.datetime) -> str:
    today = china_date(now)
    if contract.terminated_at is not None and contract.terminated_at <= now:
        return "terminated"
    if today < contract.starts_on:
        return "not_started"
    if today > contract.expires_on:
        return "expired"
    return "in_force"


def _usage(session: Session, codes: list[str]) -> dict[str, dict[str, Any]]:
    """Per dataset: the derived products built from it, how many, and when last."""
    rows = session.execute(
        select(
            DerivationSource.source_ref,
            DerivedProduct.name,
            DerivedProduct.kind,
            DerivationSource.recorded_at,
        )
        .join(DerivedProduct, DerivedProduct.id == DerivationSource.product_id)
        .where(DerivationSource.source_kind == "market_dataset", DerivationSource.source_ref.in_(codes))
        .order_by(DerivationSource.recorded_at.desc())
    ).all()
    usage: dict[str, dict[str, Any]] = {c: {"products": [], "count": 0, "last": None} for c in codes}
    for code, name, kind, at in rows:
        entry = usage[code]
        entry["count"] += 1
        entry["last"] = entry["last"] or at
        if len(entry["products"]) < 10:
            entry["products"].append({"name": name, "kind": kind})
    return usage


@router.get("", response_class=HTMLResponse)
def market_page(request: Request, services: ServicesDep, principal: Reader) -> HTMLResponse:
    vendor = principal.org_id if principal.org_kind == "market_vendor" else None
    now = utcnow()
    with services.read() as session:
        found = list_contracts(session, vendor_id=vendor)
        contracts = [{"c": c, "status": _status(c, now)} for c in found]
        references = {c.id: c.reference for c in found}
        datasets = datasets_for_purpose(session, None, now, include_refused=True, vendor_id=vendor)
        versions = {d.code: list_versions(session, d.code) for d in datasets}
        usage = _usage(session, [d.code for d in datasets])
    return render(
        request,
        "market/market.html",
        contracts=contracts,
        references=references,
        datasets=datasets,
        versions=versions,
        usage=usage,
        vendor_view=vendor is not None,
        can_write=services.authz.enforce(principal, "market_contracts", "write"),
        notice=request.query_params.get("notice"),
    )


def _vendors(session: Session) -> list[Organisation]:
    return list(
        session.scalars(
            select(Organisation)
            .where(Organisation.kind == "market_vendor", Organisation.active.is_(True))
            .order_by(Organisation.name)
        )
    )


@router.get("/contracts/new", response_class=HTMLResponse)
def new_contract_form(request: Request, services: ServicesDep, principal: Writer) -> HTMLResponse:
    today = china_date(utcnow())
    with services.read() as session:
        vendors = _vendors(session)
    form = {
        "vendor": "",
        "reference": "",
        "datasets": "",
        "purposes": [],
        "derived": "",
        "resale": "",
        "starts_on": today.isoformat(),
        "expires_on": today.replace(year=today.year + 1).isoformat(),
        "fee": "",
    }
    return render(
        request,
        "market/new_contract.html",
        form=form,
        errors={},
        vendors=vendors,
        purposes=[p.value for p in Purpose],
    )


@router.post("/contracts")
async def create_contract(request: Request, services: ServicesDep, principal: Writer) -> Response:
    raw = await request.form()
    form: dict[str, Any] = {
        "vendor": str(raw.get("vendor") or "")[:64],
        "reference": str(raw.get("reference") or "").strip()[:100],
        "datasets": str(raw.get("datasets") or "")[:4000],
        "purposes": [str(p) for p in raw.getlist("purposes")][:20],
        "derived": str(raw.get("derived") or ""),
        "resale": str(raw.get("resale") or ""),
        "starts_on": str(raw.get("starts_on") or "")[:10],
        "expires_on": str(raw.get("expires_on") or "")[:10],
        "fee": str(raw.get("fee") or "").strip()[:20],
    }
    errors: dict[str, str] = {}
    terms = []
    for line in form["datasets"].splitlines():
        code, _, name = line.strip().partition(" ")
        if code:
            terms.append(DatasetTerms(code.strip(), name.strip()))
    if not form["reference"]:
        errors["reference"] = "market.problem.reference"
    if not terms:
        errors["datasets"] = "market.problem.datasets"
    if not form["purposes"]:
        errors["purposes"] = "market.problem.purposes"
    try:
        starts, expires = dt.date.fromisoformat(form["starts_on"]), dt.date.fromisoformat(form["expires_on"])
        if expires < starts:
            raise ValueError
    except ValueError:
        errors["expires_on"] = "market.problem.dates"
    try:
        fee = Decimal(form["fee"].replace(",", "") or "x")
        if not fee.is_finite() or fee < 0:
            raise InvalidOperation
    except InvalidOperation:
        errors["fee"] = "market.problem.fee"
    if not errors:
        try:
            with services.tx() as session:
                register_contract(
                    session,
                    vendor_id=form["vendor"],
                    reference=form["reference"],
                    datasets=terms,
                    allowed_purposes=form["purposes"],
                    derived_products_allowed=form["derived"] == "yes",
                    resale_allowed=form["resale"] == "yes",
                    starts_on=starts,
                    expires_on=expires,
                    annual_fee_cny=fee,
                    created_by=principal.account_id,
                )
        except FincreditError as exc:
            errors["vendor"] = exc.detail
        else:
            return RedirectResponse(f"{PREFIX}/market?notice=registered", status_code=303)
    with services.read() as session:
        vendors = _vendors(session)
    return render(
        request,
        "market/new_contract.html",
        status_code=422,
        form=form,
        errors=errors,
        vendors=vendors,
        purposes=[p.value for p in Purpose],
    )


@router.post("/contracts/{contract_id}/terminate")
def terminate(
    contract_id: str,
    request: Request,
    services: ServicesDep,
    principal: Writer,
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """End a contract early: from now on its datasets may not be used for anything."""
    try:
        with services.tx() as session:
            terminate_contract(session, contract_id, reason=reason.strip() or "terminated by the operator")
    except FincreditError as exc:
        t = translator(lang_of(request))
        return render(
            request, "message.html", status_code=exc.status, title=t("market.refused"), text=exc.detail
        )
    return RedirectResponse(f"{PREFIX}/market?notice=terminated#c-{contract_id}", status_code=303)
