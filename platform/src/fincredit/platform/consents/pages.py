"""The borrower's pages: authorization requests in plain words, revocation in two clicks, receipts,
every access with in-browser verification, records and objections."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from fincredit.platform.catalog import current_version, items_of
from fincredit.platform.consents import accesses_with_proofs, act_on_consent, consent_view
from fincredit.platform.consents.tables import Consent
from fincredit.platform.core.db import Organisation, Subject
from fincredit.platform.core.deps import ServicesDep, set_audit_subject
from fincredit.platform.core.errors import FincreditError, NotFound
from fincredit.platform.core.web.deps import PREFIX, lang_of, page, render
from fincredit.platform.core.web.i18n import has_message, translator
from fincredit.platform.identity.principal import Principal

router = APIRouter(prefix=f"{PREFIX}/borrower", include_in_schema=False)
ACCESS_PAGE = 100
Borrower = Annotated[Principal, Depends(page("own_consents", "read"))]
BorrowerWrite = Annotated[Principal, Depends(page("own_consents", "write"))]


def _subject_id(principal: Principal) -> int:
    if principal.subject_id is None:
        raise NotFound("this account is not linked to a credit subject")
    return principal.subject_id


def scope_namer(session: Any, lang: str) -> Callable[[list[str]], list[str]]:
    """Names scopes in plain words: a catalog item by its name ("纳税信用等级"), one of its fields after
    it, a category of the consent vocabulary by its label, a market dataset as such; an unknown code as
    is. The catalog is read once per page, not once per consent shown."""
    t = translator(lang)
    items = {i.code: i.name for i in items_of(session, current_version(session))}

    def name(scope: str) -> str:
        code, _, field = scope.partition(".")
        if scope.startswith("market:"):
            return t("scope.market", dataset=scope.removeprefix("market:"))
        if has_message(f"scope.{scope}"):
            return t(f"scope.{scope}")
        if code in items:
            return f"{items[code]}（{field}）" if field else items[code]
        return scope

    return lambda scopes: [name(s) for s in scopes]


def _org_names(session: Any, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    return {o.id: o.name for o in session.scalars(select(Organisation).where(Organisation.id.in_(ids)))}


@router.get("", response_class=HTMLResponse)
def consents_page(request: Request, services: ServicesDep, principal: Borrower) -> HTMLResponse:
    with services.read() as session:
        rows = list(
            session.scalars(
                select(Consent)
                .where(Consent.subject_id == _subject_id(principal))
                .order_by(Consent.created_at.desc())
            )
        )
        views = [consent_view(services, r) for r in rows]
        names = _org_names(session, {v["grantee"] for v in views})
        in_words = scope_namer(session, lang_of(request))
        for v in views:
            v["grantee_name"] = names.get(v["grantee"], v["grantee"])
            v["scope_names"] = in_words(list(v["scopes"]))
    return render(
        request,
        "borrower/consents.html",
        pending=[v for v in views if v["state"] == "PENDING"],
        active=[v for v in views if v["state"] in ("ACTIVE", "PAUSED")],
        other=[v for v in views if v["state"] not in ("PENDING", "ACTIVE", "PAUSED")],
        confirm=request.query_params.get("confirm"),
    )


@router.post("/consents/{consent_id}/{action}")
def act(
    consent_id: str,
    action: str,
    request: Request,
    services: ServicesDep,
    principal: BorrowerWrite,
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    # Revoking is two clicks: the first asks for confirmation on the same page, the second revokes.
    if action == "revoke" and confirmed != "yes":
        return RedirectResponse(f"{PREFIX}/borrower?confirm={consent_id}#c-{consent_id}", status_code=303)
    try:
        with services.tx() as session:
            row = act_on_consent(session, services, principal=principal, consent_id=consent_id, action=action)
            set_audit_subject(request, row.subject_id)
    except FincreditError as exc:
        t = translator("zh")
        return render(
            request, "message.html", status_code=exc.status, title=t("forbidden.title"), text=exc.detail
        )
    return RedirectResponse(f"{PREFIX}/borrower#c-{consent_id}", status_code=303)


@router.get("/accesses", response_class=HTMLResponse)
def accesses_page(
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(page("own_accesses", "read"))],
    older: Annotated[int | None, Query(ge=0)] = None,
) -> HTMLResponse:
    with services.read() as session:
        subject = session.get(Subject, _subject_id(principal))
        if subject is None:
            raise NotFound("this account is not linked to a credit subject")
    doc = accesses_with_proofs(services, subject, after=older, limit=ACCESS_PAGE, newest_first=True)
    with services.read() as session:
        names = _org_names(session, {i["grantee"] for i in doc["items"] if i.get("grantee")})
        in_words = scope_namer(session, lang_of(request))
        for item in doc["items"]:
            item["grantee_name"] = names.get(item.get("grantee") or "", item.get("grantee") or "—")
            item["scope_names"] = in_words(list(item.get("scopes") or []))
    return render(request, "borrower/accesses.html", doc=doc)
