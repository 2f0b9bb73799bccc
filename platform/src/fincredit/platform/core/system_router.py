"""Liveness (``/health``), readiness (``/ready``), the platform's public key, and the documentation of
problem types."""

from __future__ import annotations

from functools import cache

from alembic.runtime.migration import MigrationContext
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from fincredit.platform.core.deps import ServicesDep, public
from fincredit.platform.core.errors import NotFound, problem_types
from fincredit.platform.core.migrate import heads

router = APIRouter(tags=["system"])


@router.get("/health", dependencies=[Depends(public)])
def health(services: ServicesDep) -> dict[str, str]:
    with services.read() as session:
        session.execute(text("SELECT 1"))
    return {"status": "ok", "database": services.engine.dialect.name}


@router.get("/ready", dependencies=[Depends(public)])
def ready(services: ServicesDep) -> JSONResponse:
    """Ready to take traffic: the database answers and its schema is at the code's migration heads. A load
    balancer sends requests only to instances that answer 200 here."""
    checks: dict[str, str] = {}
    try:
        with services.engine.connect() as conn:
            at = tuple(sorted(MigrationContext.configure(conn).get_current_heads()))
        checks["database"] = "ok"
        expected = _code_heads(services.settings.resolved_database_url)
        checks["migrations"] = (
            "ok" if at == expected else f"at {', '.join(at) or 'none'}, code needs {', '.join(expected)}"
        )
    except SQLAlchemyError as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ok else "not ready", **checks}, status_code=200 if ok else 503)


@cache
def _code_heads(url: str) -> tuple[str, ...]:
    return heads(url)


@router.get(
    "/.well-known/fincredit-public-key.pem", response_class=PlainTextResponse, dependencies=[Depends(public)]
)
def public_key(services: ServicesDep) -> str:
    """The platform's Ed25519 public key: verifies access tokens, receipts, webhooks and tree heads."""
    return services.keyring.public_key_pem


@router.get("/problems/{slug}", dependencies=[Depends(public)])
def problem_doc(slug: str) -> dict[str, str | int]:
    cls = problem_types().get(slug)
    if cls is None:
        raise NotFound(f"no problem type {slug!r}")
    return {
        "type": f"/problems/{slug}",
        "title": cls.title,
        "status": cls.status,
        "description": (cls.__doc__ or cls.title).strip(),
    }
