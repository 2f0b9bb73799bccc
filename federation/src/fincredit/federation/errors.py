"""Domain exceptions of fincredit.federation: everything it raises on purpose is a ``FederationError``.

Errors about a value a caller handed in are also ``ValueError`` (``KeyError`` for missing columns), so
code written against the built-in exceptions keeps catching them.
"""

from __future__ import annotations

__all__ = [
    "FederationError",
    "InputError",
    "JobStateError",
    "MissingColumnsError",
    "PartyError",
    "PartyTimeout",
    "PsiError",
    "PsiInputError",
    "ScoringCiphertextError",
    "ScoringContextError",
    "ScoringError",
    "ScoringModelError",
    "ScoringRequestError",
    "WireError",
]


class FederationError(Exception):
    """Base class of the federation runtime's own errors."""


class WireError(FederationError, ValueError):
    """A frame that is malformed, of an unknown version, or over its size limit."""


class InputError(FederationError, ValueError):
    """What the bank handed the SDK (a DataFrame, a label, features) cannot be used as it is; the
    message names the column and says what to do about it."""


class MissingColumnsError(InputError, KeyError):
    """Columns the SDK was told to use are not in the data."""

    def __str__(self) -> str:
        # KeyError's own __str__ would show the message as a quoted repr.
        return str(self.args[0]) if self.args else ""


class PsiError(FederationError):
    """The private set intersection could not be computed (bad point, protocol step out of order)."""


class PsiInputError(PsiError, ValueError):
    """The identifiers handed to the PSI are unusable (duplicates, empty strings, wrong type)."""


class PartyError(FederationError):
    """The other party answered with an error frame, or could not be reached after retries.

    ``code`` is the machine-readable reason the other side gave (``"wire"``, ``"unauthorized"``,
    ``"unknown_job"``, ``"limit"``, ``"protocol"``, ``"internal"``, ``"transport"``).
    """

    def __init__(self, message: str, *, code: str = "internal") -> None:
        super().__init__(message)
        self.code = code


class PartyTimeout(PartyError):
    """The other party did not answer within the call's deadline."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="timeout")


class JobStateError(FederationError):
    """A job was asked to move to a state it cannot reach from where it is (e.g. done -> aligning)."""


class ScoringError(FederationError):
    """An encrypted-scoring request refused as a whole; the platform service answers it with ``status``.

    ``code`` is machine-readable (``"bad_request"``, ``"too_large"``, ``"bad_context"``,
    ``"secret_key"``, ``"bad_ciphertext"``, ``"unknown_model"``); per-row refusals (no consent,
    unknown subject) are not errors, they travel in the scoring response.
    """

    default_code = "bad_request"
    default_status = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.status = status or self.default_status


class ScoringRequestError(ScoringError):
    """The request is inconsistent: wrong ciphertext count, unknown protocol, over a size limit."""


class ScoringContextError(ScoringError):
    """The CKKS context is unparsable, too large, has parameters outside the allowed set, or a secret key."""

    default_code = "bad_context"
    default_status = 422


class ScoringCiphertextError(ScoringError):
    """A ciphertext is garbage, too large, or not made under the request's context and parameters."""

    default_code = "bad_ciphertext"
    default_status = 422


class ScoringModelError(ScoringError):
    """The model is unknown to this party or does not fit the requested scoring protocol."""

    default_code = "unknown_model"
    default_status = 404
