"""Domain exceptions of the platform. They are mapped to RFC 9457 problem+json in one place
(``api/problems.py``); code that raises them never thinks about HTTP."""

from __future__ import annotations

from typing import Any


class FincreditError(Exception):
    """Base class. ``slug`` names the stable problem type; ``status`` the HTTP status it maps to."""

    slug = "internal-error"
    title = "Internal error"
    status = 500

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class InvalidInput(FincreditError):
    slug, title, status = "invalid-input", "The request is not valid", 422


class InvalidIdentifier(InvalidInput):
    slug, title = "invalid-identifier", "The identifier is not valid"


class NotFound(FincreditError):
    slug, title, status = "not-found", "Not found", 404


class Conflict(FincreditError):
    slug, title, status = "conflict", "Conflicts with the current state", 409


class Unauthenticated(FincreditError):
    slug, title, status = "unauthenticated", "Authentication required or failed", 401


class InvalidClient(Unauthenticated):
    slug, title = "invalid-client", "Client authentication failed"


class Forbidden(FincreditError):
    slug, title, status = "forbidden", "Not permitted", 403


class PayloadTooLarge(FincreditError):
    slug, title, status = "payload-too-large", "The request body is too large", 413


class RateLimited(FincreditError):
    slug, title, status = "rate-limited", "Too many requests", 429

    def __init__(self, detail: str, *, retry_after: int, **extensions: Any) -> None:
        super().__init__(detail, retry_after=retry_after, **extensions)
        self.retry_after = retry_after


PROBLEM_TYPES: dict[str, type[FincreditError]] = {
    cls.slug: cls
    for cls in (
        FincreditError,
        InvalidInput,
        InvalidIdentifier,
        NotFound,
        Conflict,
        Unauthenticated,
        InvalidClient,
        Forbidden,
        PayloadTooLarge,
        RateLimited,
    )
}
