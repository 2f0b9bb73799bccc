"""Domain errors of fincredit.consent.

Everything the library raises on purpose derives from :class:`ConsentDomainError`, so the platform can
map the whole family to HTTP 4xx/409 in one handler. Validation problems inside pydantic models derive
from ``ValueError`` as well, because pydantic only turns ``ValueError`` into a ``ValidationError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fincredit.consent.identifiers import SubjectKind

__all__ = [
    "CheckCharacterError",
    "CheckpointError",
    "ConsentDomainError",
    "IdentifierError",
    "IllegalTransitionError",
    "InconsistentCheckpointError",
    "InvalidConsentError",
    "LedgerError",
    "ProofError",
    "ReceiptError",
    "SensitiveScopeMixingError",
    "TreeStoreError",
    "UsageRefusedError",
]


class ConsentDomainError(Exception):
    """Base of every error this package raises deliberately."""


class InvalidConsentError(ConsentDomainError, ValueError):
    """A consent artefact breaks a rule of its own (window, frequency, purpose/mode pairing, ...)."""


class IdentifierError(ConsentDomainError, ValueError):
    """An identifier failed validation. ``position`` is 1-based, or None for whole-value faults."""

    def __init__(self, message: str, *, kind: SubjectKind, position: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.position = position


class CheckCharacterError(IdentifierError):
    """The first 17 characters do not give the code's last one. Some character is wrong, but a check
    character only detects an error, it cannot locate it: ``position`` is None, and ``expected`` (what
    the first 17 give) and ``given`` (the code's last character) are both kept for the message."""

    def __init__(self, message: str, *, kind: SubjectKind, expected: str, given: str) -> None:
        super().__init__(message, kind=kind, position=None)
        self.expected = expected
        self.given = given


class SensitiveScopeMixingError(InvalidConsentError):
    """Sensitive scopes were mixed with ordinary ones: PIPL art. 29 wants a separate consent."""


class IllegalTransitionError(ConsentDomainError):
    """A lifecycle event that the consent's current status does not allow."""

    def __init__(self, consent_id: str, status: str, event: str) -> None:
        super().__init__(f"consent {consent_id} is {status}: it cannot be {event}")
        self.consent_id = consent_id
        self.status = status
        self.event = event


class ReceiptError(ConsentDomainError):
    """A consent receipt is malformed or its signature does not verify."""


class LedgerError(ConsentDomainError):
    """A ledger entry or export row is malformed."""


class TreeStoreError(LedgerError):
    """The tree store misses a node it should hold, or was asked for a size it does not have."""


class ProofError(ConsentDomainError):
    """An inclusion or consistency proof cannot be produced or does not verify."""


class CheckpointError(ConsentDomainError):
    """A checkpoint (signed tree head) is malformed or its signature does not verify."""


class InconsistentCheckpointError(CheckpointError):
    """A new tree head is not an append-only extension of an earlier signed one."""


class UsageRefusedError(ConsentDomainError):
    """A use was recorded against a consent that does not allow it now (not active, or over frequency)."""
