"""Request id, body size limit and the audit trail of every API operation (R§20)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..db import AuditEvent, utcnow
from ..services import Services
from .problems import problem_response

log = logging.getLogger("fincredit.audit")
AUDITED_PREFIXES = ("/api/", "/oauth2/", "/federation/", "/web/")


class BodyLimitMiddleware:
    """Refuses bodies over the limit with 413 before the handler runs, whether or not the client sent a
    Content-Length. Upload routes get their own, larger limit by path prefix."""

    def __init__(self, app: ASGIApp, default_limit: int, overrides: dict[str, int] | None = None) -> None:
        self.app = app
        self.default_limit = default_limit
        self.overrides = overrides or {}

    def _limit(self, path: str) -> int:
        for prefix, limit in self.overrides.items():
            if path.startswith(prefix):
                return limit
        return self.default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(limit)
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(scope, receive, send, limit)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem_response(
            413,
            "payload-too-large",
            "The request body is too large",
            f"the body exceeds the limit of {limit} bytes for this route",
            Request(scope),
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        self.limit = limit


def audit_middleware(
    services: Services,
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    async def middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        request.state.request_id = request_id[:64]
        started = time.perf_counter()
        response = await call_next(request)
        response.headers["X-Request-ID"] = request.state.request_id
        path = request.url.path
        if path.startswith(AUDITED_PREFIXES):
            route = request.scope.get("route")
            template = getattr(route, "path", None) or path
            principal = getattr(request.state, "principal", None)
            event = AuditEvent(
                at=utcnow(),
                request_id=request.state.request_id,
                account_id=principal.account_id if principal else None,
                org_id=principal.org_id if principal else None,
                method=request.method,
                route=template[:200],
                path=path[:500],
                subject_ref=getattr(request.state, "audit_subject", None),
                status=response.status_code,
                outcome="ok"
                if response.status_code < 400
                else "refused"
                if response.status_code < 500
                else "error",
                client=request.client.host if request.client else None,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
            )
            await run_in_threadpool(_write, services, event)
        return response

    return middleware


def _write(services: Services, event: AuditEvent) -> None:
    try:
        with services.tx() as session:
            session.add(event)
    except Exception:  # the response is already decided; losing an audit row must be loud, not fatal
        log.exception("could not write audit event for %s %s", event.method, event.path)
