"""Ledger entries: what happened, to whose data, by whom, under which consent — and no credit data.

An entry records consent events (requested, granted, rejected, paused, resumed, revoked, expired,
exhausted, amended), every access to a subject's data (a query answer, a credit report, a pushed change, a
government share, a use inside privacy computing: joint modelling, encrypted scoring), and every refused
attempt. What was disclosed is represented only by its SHA-256.

The entries that set a consent's terms (requested, granted, amended) carry them all: subject kind, scopes,
modes, validity window, fetch type and frequency. An access entry names the consent it used (or the credit
authority's basis, G§16), its purpose, scopes and mode. That is what lets anyone holding the log alone replay
every consent's state and check that each access was covered at its moment
(:mod:`fincredit.consent.authorisation`). Fields added after the first exports are written only when set,
so entries written before them keep their exact bytes and still parse.

Subjects are stored as a **blind index** (HMAC-SHA256 under a platform secret, hex) plus the **masked** code.
A plain hash would not do: there are only ~10^9 plausible resident IDs, so SHA-256 of an ID is reversed by
enumeration in minutes, and an exported log would leak every subject. With the keyed index:

* a borrower finds their entries: the platform computes the index for the authenticated borrower;
* a regulator filters by subject: the platform (or a regulator trusted with the key) computes it;
* anyone holding only the export sees ``3302********1234``-style masked codes, enough to read a row,
  not enough to identify the person, and still verifies every hash and signature.

The canonical entry bytes (what the Merkle leaf hashes) are the RFC 8785 canonical JSON of the entry.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import json
import re
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fincredit.consent._canonical import canonical_json_ascii_keys
from fincredit.consent.decision import AccessRequest, Allowed, Decision, Refused
from fincredit.consent.errors import LedgerError
from fincredit.consent.identifiers import Subject, SubjectKind
from fincredit.consent.lifecycle import ConsentEvent, ConsentState
from fincredit.consent.merkle import leaf_hash
from fincredit.consent.vocabulary import AccessMode, FetchType, PeriodUnit, Purpose

__all__ = [
    "ACCESS_ENTRY_TYPES",
    "CONSENT_ENTRY_TYPES",
    "EVENT_ENTRY",
    "TERMS_ENTRY_TYPES",
    "EntryType",
    "LedgerEntry",
    "SubjectIndexer",
    "access_entry_type",
    "format_time",
    "payload_digest",
]


class EntryType(StrEnum):
    CONSENT_REQUESTED = "consent_requested"
    CONSENT_GRANTED = "consent_granted"
    CONSENT_REJECTED = "consent_rejected"
    CONSENT_PAUSED = "consent_paused"
    CONSENT_RESUMED = "consent_resumed"
    CONSENT_REVOKED = "consent_revoked"
    CONSENT_EXPIRED = "consent_expired"
    CONSENT_EXHAUSTED = "consent_exhausted"
    CONSENT_AMENDED = "consent_amended"  # a change of scope or term
    # Accesses. DISCLOSURE is a query answer (and, in logs written before the finer types, any disclosure).
    DISCLOSURE = "disclosure"
    REPORT_ISSUED = "report_issued"
    PUSH_DISCLOSURE = "push_disclosure"
    GOVERNMENT_SHARING = "government_sharing"
    JOINT_MODELLING_USE = "joint_modelling_use"
    SCORING_USE = "scoring_use"  # encrypted scoring, or scoring for an assessment
    REFUSAL = "refusal"


EVENT_ENTRY = {
    ConsentEvent.GRANT: EntryType.CONSENT_GRANTED,
    ConsentEvent.REJECT: EntryType.CONSENT_REJECTED,
    ConsentEvent.PAUSE: EntryType.CONSENT_PAUSED,
    ConsentEvent.RESUME: EntryType.CONSENT_RESUMED,
    ConsentEvent.REVOKE: EntryType.CONSENT_REVOKED,
    ConsentEvent.EXPIRE: EntryType.CONSENT_EXPIRED,
    ConsentEvent.EXHAUST: EntryType.CONSENT_EXHAUSTED,
    ConsentEvent.AMEND: EntryType.CONSENT_AMENDED,
}
CONSENT_ENTRY_TYPES = frozenset({EntryType.CONSENT_REQUESTED, *EVENT_ENTRY.values()})
TERMS_ENTRY_TYPES = frozenset(
    {EntryType.CONSENT_REQUESTED, EntryType.CONSENT_GRANTED, EntryType.CONSENT_AMENDED}
)
ACCESS_ENTRY_TYPES = frozenset(
    {
        EntryType.DISCLOSURE,
        EntryType.REPORT_ISSUED,
        EntryType.PUSH_DISCLOSURE,
        EntryType.GOVERNMENT_SHARING,
        EntryType.JOINT_MODELLING_USE,
        EntryType.SCORING_USE,
    }
)
_MODE_ENTRY = {
    AccessMode.QUERY: EntryType.DISCLOSURE,
    AccessMode.REPORT: EntryType.REPORT_ISSUED,
    AccessMode.PUSH_SUBSCRIPTION: EntryType.PUSH_DISCLOSURE,
    AccessMode.MODEL_TRAINING: EntryType.JOINT_MODELLING_USE,
    AccessMode.SCORING: EntryType.SCORING_USE,
}


def access_entry_type(purpose: Purpose, mode: AccessMode) -> EntryType:
    """The entry type of an allowed access: government sharing by its purpose, the others by their mode."""
    if purpose is Purpose.GOVERNMENT_SHARING:
        return EntryType.GOVERNMENT_SHARING
    return _MODE_ENTRY[mode]


_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def format_time(at: _dt.datetime) -> str:
    """UTC, microseconds, ``Z``: one spelling per instant, so equal times give equal bytes."""
    if at.tzinfo is None:
        raise LedgerError("ledger times must carry a time zone")
    return at.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def payload_digest(payload: bytes) -> str:
    """The hex SHA-256 the ledger stores for a disclosed payload."""
    return hashlib.sha256(payload).hexdigest()


class SubjectIndexer:
    """Computes the keyed blind index of a subject (see the module docstring for why it is keyed)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise LedgerError("the blind-index key needs at least 128 bits")
        self._key = key

    def index(self, subject: Subject) -> str:
        msg = f"fincredit-subject-v1:{subject.kind.value}:{subject.code}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()


class LedgerEntry(BaseModel):
    """One ledger entry; ``canonical_bytes()`` is what the Merkle leaf commits to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: Annotated[int, Field(ge=0)]
    type: EntryType
    at: str  # format_time() spelling
    actor: Annotated[str, Field(min_length=1, max_length=128)]
    grantee: str | None = None
    subject_index: str | None = None
    subject_masked: str | None = None
    scopes: tuple[str, ...] = ()
    purpose: Purpose | None = None
    mode: AccessMode | None = None
    consent_id: str | None = None
    route: str | None = None
    payload_sha256: str | None = None
    basis: str | None = None
    reason: str | None = None
    message: str | None = None
    # The consent's terms, on the entries of TERMS_ENTRY_TYPES; absent (and not serialised) elsewhere.
    subject_kind: SubjectKind | None = None
    modes: tuple[AccessMode, ...] | None = None
    valid_from: str | None = None
    valid_until: str | None = None
    fetch_type: FetchType | None = None
    frequency_value: Annotated[int, Field(ge=1)] | None = None
    frequency_unit: PeriodUnit | None = None

    @field_validator("at", "valid_from", "valid_until", mode="before")
    @classmethod
    def _time(cls, v: Any) -> Any:
        return format_time(v) if isinstance(v, _dt.datetime) else v

    @field_validator("scopes", mode="after")
    @classmethod
    def _sorted(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(v)))

    @field_validator("modes", mode="after")
    @classmethod
    def _sorted_modes(cls, v: tuple[AccessMode, ...] | None) -> tuple[AccessMode, ...] | None:
        return None if v is None else tuple(sorted(set(v)))

    @field_validator("subject_index", "payload_sha256")
    @classmethod
    def _hex(cls, v: str | None) -> str | None:
        if v is not None and not _HEX64.match(v):
            raise ValueError("expected 64 lower-case hex digits")
        return v

    def to_json_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "seq": self.seq,
            "type": self.type.value,
            "at": self.at,
            "actor": self.actor,
            "grantee": self.grantee,
            "subject_index": self.subject_index,
            "subject_masked": self.subject_masked,
            "scopes": list(self.scopes),
            "purpose": None if self.purpose is None else self.purpose.value,
            "mode": None if self.mode is None else self.mode.value,
            "consent_id": self.consent_id,
            "route": self.route,
            "payload_sha256": self.payload_sha256,
            "basis": self.basis,
            "reason": self.reason,
            "message": self.message,
        }
        if self.subject_kind is not None:
            doc["subject_kind"] = self.subject_kind.value
        if self.modes is not None:
            doc["modes"] = [m.value for m in self.modes]
        for name in ("valid_from", "valid_until", "frequency_value"):
            value = getattr(self, name)
            if value is not None:
                doc[name] = value
        if self.fetch_type is not None:
            doc["fetch_type"] = self.fetch_type.value
        if self.frequency_unit is not None:
            doc["frequency_unit"] = self.frequency_unit.value
        return doc

    def canonical_bytes(self) -> bytes:
        return canonical_json_ascii_keys(self.to_json_dict())

    def leaf_hash(self) -> bytes:
        return leaf_hash(self.canonical_bytes())

    @classmethod
    def from_canonical(cls, data: bytes | str) -> Self:
        try:
            return cls.model_validate(json.loads(data))
        except ValueError as exc:
            raise LedgerError(f"not a ledger entry: {exc}") from exc

    @classmethod
    def consent_event(
        cls,
        seq: int,
        at: _dt.datetime,
        state: ConsentState,
        entry_type: EntryType,
        actor: str,
        indexer: SubjectIndexer,
    ) -> Self:
        """The entry recording a consent event (use :data:`EVENT_ENTRY` to map a lifecycle event).

        Requests, grants and amendments carry the consent's full terms; the other events name the consent.
        """
        a = state.artefact
        terms: dict[str, Any] = {}
        if entry_type in TERMS_ENTRY_TYPES:
            terms = {
                "subject_kind": a.subject.kind,
                "modes": tuple(a.modes),
                "valid_from": format_time(a.valid_from),
                "valid_until": format_time(a.valid_until),
                "fetch_type": a.fetch_type,
            }
            if a.frequency is not None:
                terms.update(frequency_value=a.frequency.value, frequency_unit=a.frequency.unit)
        elif entry_type not in CONSENT_ENTRY_TYPES:
            raise LedgerError(f"{entry_type.value} is not a consent event")
        return cls(
            seq=seq,
            type=entry_type,
            at=format_time(at),
            actor=actor,
            grantee=a.grantee,
            subject_index=indexer.index(a.subject),
            subject_masked=a.subject.masked,
            scopes=tuple(a.scopes),
            purpose=a.purpose,
            consent_id=a.consent_id,
            **terms,
        )

    @classmethod
    def access(
        cls,
        seq: int,
        at: _dt.datetime,
        request: AccessRequest,
        decision: Decision,
        indexer: SubjectIndexer,
        *,
        route: str,
        payload_sha256: str | None = None,
        entry_type: EntryType | None = None,
    ) -> Self:
        """The entry for an access attempt: an access of :data:`ACCESS_ENTRY_TYPES` or a REFUSAL.

        An allowed access gets ``entry_type``, by default :func:`access_entry_type` of its purpose and mode.
        """
        common: dict[str, Any] = {
            "seq": seq,
            "at": format_time(at),
            "actor": request.account or request.grantee,
            "grantee": request.grantee,
            "subject_index": indexer.index(request.subject),
            "subject_masked": request.subject.masked,
            "scopes": tuple(request.scopes),
            "purpose": request.purpose,
            "mode": request.mode,
            "route": route,
        }
        if isinstance(decision, Refused):
            if payload_sha256 is not None:
                raise LedgerError("a refused attempt disclosed nothing: it has no payload hash")
            return cls(
                type=EntryType.REFUSAL,
                consent_id=decision.consent_id,
                reason=decision.reason.value,
                message=decision.message,
                **common,
            )
        assert isinstance(decision, Allowed)
        entry_type = entry_type or access_entry_type(request.purpose, request.mode)
        if entry_type not in ACCESS_ENTRY_TYPES:
            raise LedgerError(f"{entry_type.value} is not an access")
        return cls(
            type=entry_type,
            consent_id=decision.consent_id,
            basis=decision.basis.value,
            payload_sha256=payload_sha256,
            **common,
        )
