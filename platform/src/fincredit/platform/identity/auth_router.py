"""Token endpoint (OAuth2 client credentials + private_key_jwt) and borrower login."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response

from fincredit.platform.core.deps import SESSION_COOKIE, ServicesDep, public
from fincredit.platform.core.errors import InvalidClient, InvalidInput
from fincredit.platform.identity.certificates import presented_certificate
from fincredit.platform.identity.schemas import LoginRequest, TokenResponse
from fincredit.platform.identity.signin import sign_in
from fincredit.platform.identity.tokens import CLIENT_ASSERTION_TYPE, authenticate_client, issue_access_token

router = APIRouter(tags=["authentication"])


@router.post("/oauth2/token", response_model=TokenResponse, dependencies=[Depends(public)])
def token(
    request: Request,
    services: ServicesDep,
    grant_type: Annotated[str, Form()],
    client_assertion_type: Annotated[str, Form()],
    client_assertion: Annotated[str, Form(max_length=8192)],
    scope: Annotated[str | None, Form()] = None,
) -> TokenResponse:
    """RFC 7523 §2.2: the institution proves possession of its registered key by signing a short JWT."""
    if grant_type != "client_credentials":
        raise InvalidInput("grant_type must be client_credentials")
    if client_assertion_type != CLIENT_ASSERTION_TYPE:
        raise InvalidClient(f"client_assertion_type must be {CLIENT_ASSERTION_TYPE}")
    with services.tx() as session:
        account, key = authenticate_client(session, client_assertion, services.settings)
        issued = issue_access_token(services.keyring, services.settings, account, key)
    return TokenResponse(access_token=issued.access_token, expires_in=issued.expires_in)


@router.post(
    "/api/v1/auth/login",
    response_model=TokenResponse,
    dependencies=[Depends(public)],
    responses={429: {"description": "Locked out after repeated failures (Retry-After says how long)"}},
)
def login(body: LoginRequest, services: ServicesDep, request: Request, response: Response) -> TokenResponse:
    """Password login (argon2), with the same lockout as the web page; institution staff need their client
    certificate (R§18), as on the web page. Also sets an HttpOnly session cookie for the web pages."""
    account = sign_in(
        services,
        body.username,
        body.password,
        address=request.client.host if request.client else None,
        certificate=presented_certificate(request, services.settings),
    )
    issued = issue_access_token(services.keyring, services.settings, account, None)
    response.set_cookie(
        SESSION_COOKIE,
        issued.access_token,
        max_age=issued.expires_in,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https" or services.settings.base_url.startswith("https"),
    )
    return TokenResponse(access_token=issued.access_token, expires_in=issued.expires_in)
