"""Health, the platform's public key, and the documentation of problem types."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse
from sqlalchemy import text

from fincredit.platform.core.deps import ServicesDep, public
from fincredit.platform.core.errors import NotFound, problem_types

router = APIRouter(tags=["system"])


@router.get("/health", dependencies=[Depends(public)])
def health(services: ServicesDep) -> dict[str, str]:
    with services.read() as session:
        session.execute(text("SELECT 1"))
    return {"status": "ok", "database": services.engine.dialect.name}


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
