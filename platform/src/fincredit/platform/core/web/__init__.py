"""Server-rendered web pages (Jinja2, a little plain JavaScript, no build step), Chinese first.

Each capability owns its pages (``Capability.pages``); this package holds what they share: the page gate,
templates, static files and the message catalogue. Pages call the same service functions as the API and
pass the same casbin gate; an anonymous visitor is redirected to the login page instead of receiving a
401 problem. Every page router is included behind the CSRF check (:mod:`fincredit.platform.identity.csrf`):
each ``<form method="post">`` carries ``{{ csrf_field() }}``."""

from collections.abc import Iterable
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from fincredit.platform.core.web import deps
from fincredit.platform.core.web.deps import PREFIX
from fincredit.platform.core.web.i18n import translator
from fincredit.platform.identity import csrf


def install(app: FastAPI, pages: Iterable[APIRouter]) -> None:
    deps.install(app)
    deps.templates.env.globals["csrf_field"] = csrf.csrf_field

    @app.exception_handler(csrf.CsrfRefused)
    async def _stale_form(request: Request, exc: csrf.CsrfRefused) -> HTMLResponse:
        t = translator(deps.lang_of(request))
        return deps.render(
            request, "message.html", status_code=403, title=t("csrf.title"), text=t("csrf.text")
        )

    app.add_middleware(csrf.CsrfCookieMiddleware)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    for router in pages:
        app.include_router(router, dependencies=[Depends(csrf.protect)])


__all__ = ["PREFIX", "install"]
