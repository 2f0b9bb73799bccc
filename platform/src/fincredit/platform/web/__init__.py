"""Server-rendered web pages (Jinja2, a little plain JavaScript, no build step), Chinese first.

Pages call the same service functions as the API and pass the same casbin gate; an anonymous visitor
is redirected to the login page instead of receiving a 401 problem."""

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from . import (
    deps,
    pages_auth,
    pages_bank_jobs,
    pages_boards,
    pages_borrower,
    pages_free,
    pages_institution,
    pages_objections,
    pages_provider,
    pages_regulator,
    pages_supervision,
)
from .deps import PREFIX

router = APIRouter()
for _module in (pages_auth, pages_borrower, pages_objections, pages_free, pages_regulator, pages_institution):
    router.include_router(_module.router)
router.include_router(pages_provider.router)
router.include_router(pages_boards.router)
router.include_router(pages_bank_jobs.router)
router.include_router(pages_supervision.router)


def install(app: FastAPI) -> None:
    deps.install(app)
    app.mount(
        f"{PREFIX}/static", StaticFiles(directory=str(deps.Path(__file__).parent / "static")), name="static"
    )
    app.include_router(router)


__all__ = ["PREFIX", "install", "router"]
