"""Token endpoint (OAuth2 client credentials + private_key_jwt) and borrower login."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response

from fincredit.platform.core.deps import SESSION_COOKIE, ServicesDep, public
from fincredit.platform.core.errors import InvalidClient, InvalidInput
from fincredit.platform.identity.schemas import LoginRequest, TokenResponse
from fincredit.platform.identity.tokens import (
    CLIENT_ASSERTION_TYPE,
    authenticate_client,
    authenticate_password,
    issue_access_token,
)

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


@router.post("/api/v1/auth/login", response_model=TokenResponse, dependencies=[Depends(public)])
def login(body: LoginRequest, services: ServicesDep, response: Response) -> TokenResponse:
    """Borrower password login (argon2). Also sets an HttpOnly session cookie for the web pages."""
    with services.read() as session:
        account = authenticate_password(session, body.username, body.password)
        issued = issue_access_token(services.keyring, services.settings, account, None)
    response.set_cookie(
        SESSION_COOKIE,
        issued.access_token,
        max_age=issued.expires_in,
        httponly=True,
        samesite="strict",
        secure=services.settings.base_url.startswith("https"),
    )
    return TokenResponse(access_token=issued.access_token, expires_in=issued.expires_in)
