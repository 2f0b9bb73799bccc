"""FastAPI dependencies: the services, the caller, and the one authorization gate.

Every route declares exactly one of ``Depends(require(resource, action))`` (or its
``require_confirmed`` form) or ``Depends(public)``;
a test walks the route table and fails on any route that has neither."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from fincredit.platform.core.errors import Forbidden, Unauthenticated
from fincredit.platform.core.services import Services
from fincredit.platform.identity.principal import Principal
from fincredit.platform.identity.tokens import (
    VerifiedToken,
    VerifiedTokens,
    principal_from_token,
    verified_token,
)

_bearer = HTTPBearer(
    auto_error=False, description="Access token from POST /oauth2/token or /api/v1/auth/login"
)
SESSION_COOKIE = "fincredit_session"


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def _token(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str:
    token = credentials.credentials if credentials is not None else request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthenticated("send an access token: Authorization: Bearer <token>")
    return token


def _authorize(services: Services, principal: Principal, resource: str, action: str) -> None:
    if not services.authz.enforce(principal, resource, action):
        raise Forbidden(f"this account may not {action} {resource}", permission=f"{resource}:{action}")


def current_principal(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    token = _token(request, credentials)
    with services.read() as session:
        principal = principal_from_token(session, services.keyring, token)
    request.state.principal = principal
    return principal


def require(resource: str, action: str) -> Callable[..., Principal]:
    """The authorization gate: authenticated, and casbin allows (resource, action) in the caller's domain."""

    def gate(
        request: Request, services: ServicesDep, principal: Annotated[Principal, Depends(current_principal)]
    ) -> Principal:
        _authorize(services, principal, resource, action)
        return principal

    gate.__fincredit_permission__ = (resource, action)  # type: ignore[attr-defined]
    return gate


def require_confirmed(resource: str, action: str) -> Callable[..., Awaitable[Principal]]:
    """The gate for a route whose work runs in a transaction that re-checks the caller itself.

    Same answer as :func:`require`, but the token's principal comes from the app's memory of verified
    tokens (:class:`VerifiedTokens`) and the route must pass ``request.state.caller`` (account id, key id)
    to :func:`~fincredit.platform.identity.tokens.still_valid` inside the transaction that does the
    work — so a disabled account, organisation or revoked key still stops the next request, while the
    signature check and the three account lookups are not repeated on every call (the batched query).
    """

    async def gate(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Principal:
        services = get_services(request)
        token = _token(request, credentials)
        known: VerifiedTokens = request.app.state.verified_tokens
        verified = known.get(token)
        if verified is None:
            verified = await run_in_threadpool(_verify, services, token)
            known.put(token, verified)
        principal = verified.principal
        _authorize(services, principal, resource, action)
        request.state.principal = principal
        request.state.caller = (principal.account_id, verified.kid)
        return principal

    gate.__fincredit_permission__ = (resource, action)  # type: ignore[attr-defined]
    return gate


def _verify(services: Services, token: str) -> VerifiedToken:
    with services.read() as session:
        return verified_token(session, services.keyring, token)


def public() -> None:
    """Marks a route as deliberately open (health, token endpoint, docs of problem types)."""


public.__fincredit_public__ = True  # type: ignore[attr-defined]


def set_audit_subject(request: Request, subject_ref: str | int | None) -> None:
    """Record which subject a request touched, for the audit trail (R§20)."""
    if subject_ref is not None:
        request.state.audit_subject = str(subject_ref)


def allowed(services: Services, principal: Principal, resource: str, action: str) -> bool:
    return services.authz.enforce(principal, resource, action)
