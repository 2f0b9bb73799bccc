"""CSRF protection of every web form: the double-submit pattern with signed tokens (itsdangerous).

A browser gets a random value in the ``fincredit_csrf`` cookie (HttpOnly, SameSite=Strict, Secure over
HTTPS); each form carries ``csrf_token``, that value signed with a key derived from the platform's keyring
and timestamped. A state-changing request to a page is accepted only when its token (form field, or the
``X-CSRF-Token`` header for scripts) verifies, is younger than ``MAX_AGE`` and names the cookie's value:
another site can make the browser send the cookie but can neither read it nor sign a token for it.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

import jinja2
from fastapi import Request
from itsdangerous import BadData, URLSafeTimedSerializer
from markupsafe import Markup
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fincredit.platform.core.errors import Forbidden

COOKIE = "fincredit_csrf"
FIELD = "csrf_token"
HEADER = "x-csrf-token"
MAX_AGE = 12 * 3600
_SAFE = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_STATE = "csrf_cookie"  # the request's cookie value, in scope["state"], when this response must set it


class CsrfRefused(Forbidden):
    slug, title = "csrf-refused", "The form is stale or did not come from this site"


def _serializer(request: Request | Any) -> URLSafeTimedSerializer:
    services = request.app.state.services
    # itsdangerous derives its signing key from this secret and the salt, so the keyring's blind-index key
    # is not used as is for a second purpose.
    return URLSafeTimedSerializer(services.keyring.index_key, salt="fincredit-web-csrf")


def token(request: Request) -> str:
    """The token for this request's forms, starting the cookie's value if the browser has none."""
    state = request.scope.setdefault("state", {})
    value = state.get(_STATE) or request.cookies.get(COOKIE)
    if not value or len(value) > 100:
        value = secrets.token_urlsafe(32)
    if value != request.cookies.get(COOKIE):
        state[_STATE] = value
    return str(_serializer(request).dumps(value))


@jinja2.pass_context
def csrf_field(context: Any) -> Markup:
    """``{{ csrf_field() }}`` inside each ``<form method="post">``."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(FIELD, token(context["request"]))


def is_https(scope: Scope) -> bool:
    return scope.get("scheme") == "https"


class CsrfCookieMiddleware:
    """Sets the CSRF cookie on the response of a request whose page started one (pure ASGI: it only looks
    at the response's start)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})  # shared with the request's scope copies further in

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                value = state.get(_STATE)
                if value:
                    cookie = f"{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict"
                    if is_https(scope):
                        cookie += "; Secure"
                    message = {**message, "headers": [*message["headers"], (b"set-cookie", cookie.encode())]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def verify(request: Request, presented: str | None) -> None:
    cookie = request.cookies.get(COOKIE)
    if not cookie or not presented:
        raise CsrfRefused("this form has no valid token: reload the page and send it again")
    try:
        signed = _serializer(request).loads(presented, max_age=MAX_AGE)
    except BadData:
        raise CsrfRefused(
            "this form's token is stale or altered: reload the page and send it again"
        ) from None
    if not isinstance(signed, str) or not hmac.compare_digest(signed, cookie):
        raise CsrfRefused("this form's token belongs to another browser session: reload the page")


async def protect(request: Request) -> None:
    """Router dependency of every page router: state-changing requests carry a valid token."""
    if request.method in _SAFE:
        return
    presented = request.headers.get(HEADER)
    if presented is None:
        form = await request.form()
        field = form.get(FIELD)
        presented = field if isinstance(field, str) else None
    verify(request, presented)


__all__ = [
    "COOKIE",
    "FIELD",
    "HEADER",
    "CsrfCookieMiddleware",
    "CsrfRefused",
    "csrf_field",
    "protect",
    "token",
]
