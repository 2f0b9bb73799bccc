"""Log in, log out, and the landing page."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fincredit.platform.core.deps import SESSION_COOKIE, ServicesDep, public
from fincredit.platform.core.errors import Unauthenticated
from fincredit.platform.core.services import Services
from fincredit.platform.core.web.deps import PREFIX, page_principal, render
from fincredit.platform.identity.certificates import describe, presented_certificate
from fincredit.platform.identity.principal import Principal
from fincredit.platform.identity.signin import LockedOut, sign_in
from fincredit.platform.identity.tokens import issue_access_token, principal_from_token

router = APIRouter(prefix=PREFIX, include_in_schema=False)
SHANGHAI = ZoneInfo("Asia/Shanghai")


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
    if principal.org_kind == "market_vendor":
        return f"{PREFIX}/market"
    return f"{PREFIX}/bank"


def _safe_next(target: str | None) -> str | None:
    # Only local page paths: an open redirect to another site would help phishing.
    return target if target and target.startswith(PREFIX + "/") and "//" not in target else None


@router.get("/", response_class=HTMLResponse, dependencies=[Depends(public)])
def home(request: Request, principal: Annotated[Principal | None, Depends(page_principal)]) -> Response:
    return render(request, "home.html", home_link=home_of(principal) if principal else None)


def _certificate_note(request: Request, services: Services) -> dict[str, Any]:
    """What the login page says about the connection's client certificate."""
    certificate = presented_certificate(request, services.settings)
    return {
        "certificate": describe(certificate) if certificate is not None else None,
        "https": request.url.scheme == "https",
        "certificate_required": services.settings.staff_certificate_required,
    }


@router.get("/login", response_class=HTMLResponse, dependencies=[Depends(public)])
def login_form(request: Request, services: ServicesDep, next: str | None = None) -> HTMLResponse:
    return render(
        request,
        "login.html",
        next=_safe_next(next) or "",
        failed=False,
        locked_until=None,
        **_certificate_note(request, services),
    )


def set_session_cookie(
    request: Request, response: Response, services: Services, token: str, ttl: int
) -> None:
    """HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it), Secure whenever the
    browser reached us over HTTPS — directly or through the proxy (X-Forwarded-Proto, trusted by uvicorn
    from its forwarded_allow_ips). Over plain HTTP, as in the one-machine demo, it cannot be Secure: the
    browser would never send it back."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=ttl,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https" or services.settings.base_url.startswith("https"),
    )


@router.post("/login", dependencies=[Depends(public)])
def login(
    request: Request,
    services: ServicesDep,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    certificate = presented_certificate(request, services.settings)
    try:
        account = sign_in(
            services,
            username,
            password,
            address=request.client.host if request.client else None,
            certificate=certificate,
        )
        with services.read() as session:
            issued = issue_access_token(services.keyring, services.settings, account, None)
            principal = principal_from_token(session, services.keyring, issued.access_token)
    except LockedOut as exc:
        response = render(
            request,
            "login.html",
            status_code=429,
            next=_safe_next(next) or "",
            failed=True,
            locked_until=exc.until.astimezone(SHANGHAI).strftime("%H:%M:%S"),
            **_certificate_note(request, services),
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except Unauthenticated:
        return render(
            request,
            "login.html",
            status_code=401,
            next=_safe_next(next) or "",
            failed=True,
            locked_until=None,
            **_certificate_note(request, services),
        )
    request.state.principal = principal
    redirect = RedirectResponse(_safe_next(next) or home_of(principal), status_code=303)
    set_session_cookie(request, redirect, services, issued.access_token, issued.expires_in)
    return redirect


@router.post("/logout", dependencies=[Depends(public)])
def logout() -> Response:
    response = RedirectResponse(f"{PREFIX}/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
