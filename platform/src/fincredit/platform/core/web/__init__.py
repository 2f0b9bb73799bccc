"""Server-rendered web pages (Jinja2, a little plain JavaScript, no build step), Chinese first.

Each capability owns its pages (``Capability.pages``); this package holds what they share: the page gate,
templates, static files and the message catalogue. Pages call the same service functions as the API and
pass the same casbin gate; an anonymous visitor is redirected to the login page instead of receiving a
401 problem."""

from collections.abc import Iterable
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from fincredit.platform.core.web import deps
from fincredit.platform.core.web.deps import PREFIX


def install(app: FastAPI, pages: Iterable[APIRouter]) -> None:
    deps.install(app)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    for router in pages:
        app.include_router(router)


__all__ = ["PREFIX", "install"]
