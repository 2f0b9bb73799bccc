"""Domain exceptions of the platform. They are mapped to RFC 9457 problem+json in one place
(``api/problems.py``); code that raises them never thinks about HTTP."""

from __future__ import annotations

from typing import Any

from fincredit.consent.errors import CheckCharacterError, IdentifierError


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


def identifier_problem(exc: IdentifierError) -> InvalidIdentifier:
    """The problem for a refused identifier: the position where a rule locates the fault, or, for a
    check-character mismatch (which locates nothing), the expected and the given check character."""
    if isinstance(exc, CheckCharacterError):
        return InvalidIdentifier(
            str(exc), identifier_kind=exc.kind.value, expected=exc.expected, given=exc.given
        )
    return InvalidIdentifier(str(exc), position=exc.position, identifier_kind=exc.kind.value)


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


class PaymentRequired(FincreditError):
    """The call would pass the institution's monthly credit limit for metered services."""

    slug, title, status = "payment-required", "Credit limit reached", 402


class QuotaExceeded(FincreditError):
    """The institution's quota for this metered product is used up for the period."""

    slug, title, status = "quota-exceeded", "Quota exceeded", 429

    def __init__(self, detail: str, *, retry_after: int, **extensions: object) -> None:
        super().__init__(detail, retry_after=retry_after, **extensions)
        self.retry_after = retry_after


class RateLimited(FincreditError):
    slug, title, status = "rate-limited", "Too many requests", 429

    def __init__(self, detail: str, *, retry_after: int, **extensions: Any) -> None:
        super().__init__(detail, retry_after=retry_after, **extensions)
        self.retry_after = retry_after


def problem_types() -> dict[str, type[FincreditError]]:
    """Every problem type by slug, found by walking the subclasses (so adding a class is enough)."""
    found: dict[str, type[FincreditError]] = {}
    todo: list[type[FincreditError]] = [FincreditError]
    while todo:
        cls = todo.pop()
        found.setdefault(cls.slug, cls)
        todo.extend(cls.__subclasses__())
    return found


class MarketUseRefused(Forbidden):
    """A market dataset may not be used: no contract, the contract expired or ended, or the purpose is
    not one the contract allows. ``reason`` (an extension) says which."""

    slug, title = "market-use-refused", "The market data contract does not allow this use"


class DerivedProductRefused(Forbidden):
    slug, title = "derived-product-refused", "A source's contract does not allow this derived product"


class MarketDataInvalid(InvalidInput):
    slug, title = "market-data-invalid", "The market dataset upload is not valid"


class MarketDataCorrupt(FincreditError):
    """A stored dataset file is missing or no longer matches the SHA-256 recorded at upload."""

    slug, title, status = "market-data-corrupt", "A stored market dataset does not match its checksum", 500


class ObjectionStateError(Conflict):
    """The objection is not at the step the action belongs to (or the extension was already used)."""

    slug, title = "objection-state", "The objection is not at a step that allows this"


class SubmissionRejected(InvalidInput):
    """A submitted file is structurally wrong (unreadable, wrong columns or column types): the whole
    file is refused and nothing of it is stored. Row-level data errors never raise this; they go to
    the submission's feedback report."""

    slug, title = "submission-rejected", "The submitted file is structurally invalid"


class CatalogInvalid(InvalidInput):
    slug, title = "catalog-invalid", "The catalog change is not valid"


class ConsentRefused(Forbidden):
    """The subject's consent does not allow this access; the refusal itself is in the ledger."""

    slug, title = "consent-refused", "The subject's consent does not allow this access"


class IllegalConsentTransition(Conflict):
    slug, title = "illegal-consent-transition", "The consent's state does not allow this action"
