"""FastAPI dependencies: the services, the caller, and the one authorization gate.

Every route declares exactly one of ``Depends(require(resource, action))`` or ``Depends(public)``;
a test walks the route table and fails on any route that has neither."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..errors import Forbidden, Unauthenticated
from ..identity.principal import Principal
from ..identity.tokens import principal_from_token
from ..services import Services

_bearer = HTTPBearer(
    auto_error=False, description="Access token from POST /oauth2/token or /api/v1/auth/login"
)
SESSION_COOKIE = "fincredit_session"


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def current_principal(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    token = credentials.credentials if credentials is not None else request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthenticated("send an access token: Authorization: Bearer <token>")
    with services.read() as session:
        principal = principal_from_token(session, services.keyring, token)
    request.state.principal = principal
    return principal


def require(resource: str, action: str) -> Callable[..., Principal]:
    """The authorization gate: authenticated, and casbin allows (resource, action) in the caller's domain."""

    def gate(
        request: Request, services: ServicesDep, principal: Annotated[Principal, Depends(current_principal)]
    ) -> Principal:
        if not services.authz.enforce(principal, resource, action):
            raise Forbidden(f"this account may not {action} {resource}", permission=f"{resource}:{action}")
        return principal

    gate.__fincredit_permission__ = (resource, action)  # type: ignore[attr-defined]
    return gate


def public() -> None:
    """Marks a route as deliberately open (health, token endpoint, docs of problem types)."""


public.__fincredit_public__ = True  # type: ignore[attr-defined]


def set_audit_subject(request: Request, subject_ref: str | int | None) -> None:
    """Record which subject a request touched, for the audit trail (R§20)."""
    if subject_ref is not None:
        request.state.audit_subject = str(subject_ref)


def allowed(services: Services, principal: Principal, resource: str, action: str) -> bool:
    return services.authz.enforce(principal, resource, action)
