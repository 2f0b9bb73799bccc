"""The one place where errors become HTTP: RFC 9457 problem+json with a stable ``type`` per problem.
No stack trace or exception text of an unexpected error ever reaches the client."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from fincredit.platform.core.errors import FincreditError

log = logging.getLogger("fincredit.errors")
PROBLEM_JSON = "application/problem+json"


def problem_type(slug: str) -> str:
    return f"/problems/{slug}"


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    request: Request | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"type": problem_type(slug), "title": title, "status": status, "detail": detail}
    if request is not None:
        body["instance"] = request.url.path
        rid = getattr(request.state, "request_id", None)
        if rid:
            body["request_id"] = rid
    body.update({k: v for k, v in extensions.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def internal_error_response(request: Request) -> JSONResponse:
    return problem_response(
        500,
        "internal-error",
        "Internal error",
        "the platform could not complete the request; quote the request_id to the operator",
        request,
    )


def _slug_for_status(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "-")
    except ValueError:
        return "http-error"


def install(app: FastAPI) -> None:
    @app.exception_handler(FincreditError)
    async def _domain(request: Request, exc: FincreditError) -> JSONResponse:
        headers = None
        if exc.status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        retry_after = exc.extensions.get("retry_after")
        if retry_after is not None:
            headers = {"Retry-After": str(retry_after)}
        return problem_response(
            exc.status, exc.slug, exc.title, exc.detail, request, headers, **exc.extensions
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid"}
        where = ".".join(str(p) for p in first["loc"])
        return problem_response(
            422,
            "invalid-input",
            "The request is not valid",
            f"{where}: {first['msg']}",
            request,
            errors=errors,
        )

    # Schemas bound what they can; a value the database still cannot hold (a number out of its range, a
    # string it cannot convert) is the client's input, not a server fault.
    @app.exception_handler(DataError)
    @app.exception_handler(OverflowError)
    async def _out_of_range(request: Request, exc: Exception) -> JSONResponse:
        log.info("value out of range on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return problem_response(
            422,
            "invalid-input",
            "The request is not valid",
            "a value in the request is out of the range the platform stores",
            request,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        slug = _slug_for_status(exc.status_code)
        return problem_response(
            exc.status_code,
            slug,
            HTTPStatus(exc.status_code).phrase,
            detail,
            request,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return internal_error_response(request)
