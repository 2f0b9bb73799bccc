"""Page plumbing: the same authorization gate as the API, but an anonymous visitor is sent to the
login page (303) and a refused one sees an HTML page, because people, not programs, read these."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from fincredit.platform.core.deps import SESSION_COOKIE, ServicesDep
from fincredit.platform.core.errors import FincreditError, Forbidden, Unauthenticated
from fincredit.platform.core.registry import template_dirs
from fincredit.platform.core.web.formats import NameBook, install_filters
from fincredit.platform.core.web.i18n import LANGS, translator
from fincredit.platform.identity.principal import Principal
from fincredit.platform.identity.tokens import principal_from_token

PREFIX = "/web"
# The shared layout and messages here, each capability's pages in its own ``templates`` folder.
templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader([Path(__file__).parent / "templates", *template_dirs()]),
        autoescape=jinja2.select_autoescape(),
    )
)
install_filters(templates.env)


class LoginRequired(FincreditError):
    slug, title, status = "login-required", "Log in to see this page", 401


class PageForbidden(Forbidden):
    slug, title = "page-forbidden", "This account may not see this page"


def lang_of(request: Request) -> str:
    lang = request.query_params.get("lang") or request.cookies.get("lang") or "zh"
    return lang if lang in LANGS else "zh"


def page_principal(request: Request, services: ServicesDep) -> Principal | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    with services.read() as session:
        try:
            principal = principal_from_token(session, services.keyring, token)
        except Unauthenticated:
            return None
    request.state.principal = principal
    return principal


def page(resource: str, action: str) -> Callable[..., Principal]:
    """Gate for a page: logged in (else 303 to the login page) and casbin allows (resource, action)."""

    def gate(
        request: Request,
        services: ServicesDep,
        principal: Annotated[Principal | None, Depends(page_principal)],
    ) -> Principal:
        if principal is None:
            raise LoginRequired("log in first", next=str(request.url.path))
        if not services.authz.enforce(principal, resource, action):
            raise PageForbidden(f"this account may not {action} {resource}")
        return principal

    gate.__fincredit_permission__ = (resource, action)  # type: ignore[attr-defined]
    return gate


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    lang = lang_of(request)
    principal = getattr(request.state, "principal", None)
    # Organisation, item and field names are read at most once per page, and only if the page shows one.
    services = getattr(request.app.state, "services", None)
    names = NameBook(None, lang, opener=services.read if services is not None else None)
    response = templates.TemplateResponse(
        request,
        template,
        {
            "t": translator(lang),
            "label": names.label,
            "lang": lang,
            "principal": principal,
            "prefix": PREFIX,
            **context,
        },
        status_code=status_code,
    )
    if request.query_params.get("lang") in LANGS:
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
    return response


def install(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse(
            f"{PREFIX}/login?next={exc.extensions.get('next', PREFIX + '/')}", status_code=303
        )

    @app.exception_handler(PageForbidden)
    async def _forbidden(request: Request, exc: PageForbidden) -> HTMLResponse:
        return render(request, "forbidden.html", status_code=403)
