"""Log in, log out, and the landing page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fincredit.platform.core.deps import SESSION_COOKIE, ServicesDep, public
from fincredit.platform.core.errors import Unauthenticated
from fincredit.platform.core.web.deps import PREFIX, page_principal, render
from fincredit.platform.identity.principal import Principal
from fincredit.platform.identity.tokens import authenticate_password, issue_access_token, principal_from_token

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def home_of(principal: Principal) -> str:
    if principal.account_kind == "borrower":
        return f"{PREFIX}/borrower"
    if principal.org_kind == "platform_operator":
        return f"{PREFIX}/boards"
    if principal.org_kind in ("regulator", "credit_authority"):
        return f"{PREFIX}/regulator"
    if principal.org_kind == "data_provider":
        return f"{PREFIX}/provider"
    if principal.org_kind in ("district_team", "sector_team"):
        return f"{PREFIX}/team/boards"
    return f"{PREFIX}/bank"


def _safe_next(target: str | None) -> str | None:
    # Only local page paths: an open redirect to another site would help phishing.
    return target if target and target.startswith(PREFIX + "/") and "//" not in target else None


@router.get("/", response_class=HTMLResponse, dependencies=[Depends(public)])
def home(request: Request, principal: Annotated[Principal | None, Depends(page_principal)]) -> Response:
    return render(request, "home.html", home_link=home_of(principal) if principal else None)


@router.get("/login", response_class=HTMLResponse, dependencies=[Depends(public)])
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    return render(request, "login.html", next=_safe_next(next) or "", failed=False)


@router.post("/login", dependencies=[Depends(public)])
def login(
    request: Request,
    services: ServicesDep,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    try:
        with services.read() as session:
            account = authenticate_password(session, username, password)
            issued = issue_access_token(services.keyring, services.settings, account, None)
            principal = principal_from_token(session, services.keyring, issued.access_token)
    except Unauthenticated:
        return render(request, "login.html", status_code=401, next=_safe_next(next) or "", failed=True)
    request.state.principal = principal
    response = RedirectResponse(_safe_next(next) or home_of(principal), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        issued.access_token,
        max_age=issued.expires_in,
        httponly=True,
        samesite="strict",
        secure=services.settings.base_url.startswith("https"),
    )
    return response


@router.post("/logout", dependencies=[Depends(public)])
def logout() -> Response:
    response = RedirectResponse(f"{PREFIX}/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
