"""Request id, body size limit and the audit trail of every API operation (R§20)."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fincredit.platform.core._audit_writer import AuditWriter
from fincredit.platform.core.db import utcnow
from fincredit.platform.core.problems import internal_error_response, problem_response

log = logging.getLogger("fincredit.errors")
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
        too_large = False
        started = False

        async def limited_receive() -> Message:
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    too_large = True
                    raise _TooLarge(limit)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            # Body parsing turns any error of ``receive`` into its own 400; once the body is known to be
            # too large, whatever the application answers is dropped and the 413 below goes out instead.
            if too_large and not started:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, limited_receive, guarded_send)
        if too_large:
            if started:  # a response is half sent: only dropping the connection can end it
                raise _TooLarge(limit)
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


class AuditMiddleware:
    """Gives every request an id (X-Request-ID, taken from the client's header or made here) and writes
    one audit row per API operation (R§20) through the group-committing ``AuditWriter``.

    Pure ASGI rather than ``BaseHTTPMiddleware`` (which costs a task and a stream per request). The
    response's start message is held until the request's audit row is committed: no client sees a
    response whose operation is missing from the trail. Rows of concurrent requests share one commit
    (group commit amortises the commit, not durability). A failed audit write is logged, not turned
    into a failed response. An unhandled error is logged, answered with a 500 problem (audited like any
    response) and not re-raised: the server would otherwise drop the keep-alive connection under the
    client's next request. Only an error in the middle of a response propagates, because dropping the
    connection is then the only way to tell the client the response is incomplete.
    """

    def __init__(self, app: ASGIApp, writer: AuditWriter) -> None:
        self.app = app
        self.writer = writer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _header(scope, b"x-request-id") or uuid.uuid4().hex
        request_id = request_id[:64]
        # ``request.state`` is a view of ``scope["state"]``: deps set principal and audit_subject there.
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["started"] = started
        audited = scope["path"].startswith(AUDITED_PREFIXES)
        rid_header = (b"x-request-id", request_id.encode("latin-1"))
        responded = False
        finished = False

        async def send_with_audit(message: Message) -> None:
            nonlocal responded, finished
            if message["type"] == "http.response.start":
                responded = True
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-request-id"]
                headers.append(rid_header)
                message = {**message, "headers": headers}
                # A route may write its own row inside the transaction that did the work (the batched
                # query does); then the trail already holds this response's status.
                if audited and state.get("audited_status") != message["status"]:
                    await self.writer.record(audit_row(scope, state, message["status"]))
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
            await send(message)

        try:
            await self.app(scope, receive, send_with_audit)
        except Exception:
            if responded and not finished:
                raise
            request = Request(scope)
            log.exception("unhandled error on %s %s", scope.get("method"), scope["path"])
            if not responded:
                await internal_error_response(request)(scope, receive, send_with_audit)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return str(value.decode("latin-1"))
    return None


def audit_row(scope: Scope, state: dict[str, Any], status: int) -> dict[str, Any]:
    """The audit row of a request answered with ``status`` now (the AuditEvent columns but ``id``)."""
    started: float = state["started"]
    route = scope.get("route")
    path: str = scope["path"]
    template = getattr(route, "path", None) or path
    principal = state.get("principal")
    client = scope.get("client")
    return {
        "at": utcnow(),
        "request_id": state["request_id"],
        "account_id": principal.account_id if principal else None,
        "org_id": principal.org_id if principal else None,
        "method": scope["method"],
        "route": template[:200],
        "path": path[:500],
        "subject_ref": state.get("audit_subject"),
        "status": status,
        "outcome": "ok" if status < 400 else "refused" if status < 500 else "error",
        "client": client[0] if client else None,
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
    }
