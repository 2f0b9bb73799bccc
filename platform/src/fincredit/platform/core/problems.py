"""The one place where errors become HTTP: RFC 9457 problem+json with a stable ``type`` per problem.
No stack trace or exception text of an unexpected error ever reaches the client."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
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


# What every operation may answer besides its success: the problem responses, so the OpenAPI document
# says what the API does (the document replaces FastAPI's default 422 body with the problem).
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details; extension members (reason, position, ...) by type",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "/problems/{slug}, stable per problem"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
    },
    "additionalProperties": True,
}
PROBLEM_STATUSES = {
    "401": "Authentication required or failed",
    "402": "Credit limit reached",
    "403": "Not allowed (no permission, no consent, contract or agreement)",
    "404": "Not found",
    "409": "Conflicts with the current state",
    "413": "The request body is too large",
    "422": "The request is not valid",
    "429": "Rate limit or quota reached",
}


def _document_problems(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = generate()
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = PROBLEM_SCHEMA
        problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for operations in doc.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, text in PROBLEM_STATUSES.items():
                    responses[status] = {"description": text, "content": problem}
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def _allowed_methods(request: Request) -> list[str]:
    """The methods the OpenAPI document gives this path (Starlette's 405 names only the first route's)."""
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, request.url.path):
            methods |= {m.upper() for m in operations}
    return sorted(methods | {"OPTIONS"}) if methods else []


def install(app: FastAPI) -> None:
    _document_problems(app)

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
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            allow = ", ".join(_allowed_methods(request))
            if request.method == "OPTIONS" and allow:
                return Response(status_code=204, headers={"Allow": allow})
            exc.headers = {**(exc.headers or {}), "Allow": allow}
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
