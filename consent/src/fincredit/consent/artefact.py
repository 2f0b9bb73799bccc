"""The consent artefact: what the subject agreed to, to whom, for what, for how long.

Modelled on the ReBIT account-aggregator consent artefact (purpose, consent mode, fetch type, frequency,
data life, data range, start/expiry) and UK Open Banking permissions (named data clusters). The artefact is
frozen: the bank's request creates it without :attr:`ConsentArtefact.evidence`; the subject's approval
*signs* it by attaching the evidence (:meth:`ConsentArtefact.signed`), after which nothing may change. A
change of scope or term is a new artefact: either a new consent with a new id, or an amendment of the same
consent carrying the subject's approval of the new terms (:meth:`~fincredit.consent.ConsentState.amend`).
"""

from __future__ import annotations

import datetime as _dt
import re
import uuid
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_serializer, model_validator

from fincredit.consent.errors import InvalidConsentError, SensitiveScopeMixingError
from fincredit.consent.identifiers import IdentifierError, Subject, SubjectKind, validate
from fincredit.consent.vocabulary import (
    PURPOSE_MODES,
    AccessMode,
    DataLifeUnit,
    FetchType,
    PeriodUnit,
    Purpose,
    is_sensitive,
)

__all__ = [
    "ApprovalChannel",
    "ConsentArtefact",
    "DataLife",
    "DataRange",
    "Frequency",
    "SubjectAct",
    "new_consent_id",
]

SCHEMA_VERSION = "fincredit-consent/1"
# Catalog categories are dotted lower-case paths; market datasets are "market:<dataset id>".
_SCOPE_RE = re.compile(r"^(?:[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*|market:[A-Za-z0-9][A-Za-z0-9_.\-]*)$")


def new_consent_id() -> str:
    return "cns_" + uuid.uuid4().hex


def _coerce_subject(value: Any) -> Subject:
    try:
        if isinstance(value, Subject):
            kind, code = validate(value.code, value.kind)
        elif isinstance(value, dict):
            kind, code = validate(str(value["code"]), value.get("kind"))
        elif isinstance(value, str):
            kind, code = validate(value)
        else:
            raise InvalidConsentError(
                f"a subject is a Subject, a {{kind, code}} mapping or a code, not {value!r}"
            )
    except IdentifierError as exc:
        raise InvalidConsentError(f"subject: {exc}") from exc
    return Subject(kind, code)


def _aware(value: _dt.datetime, name: str) -> _dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidConsentError(f"{name} must carry a time zone (naive times are ambiguous across servers)")
    return value


class Frequency(BaseModel):
    """At most ``value`` uses per ``unit`` (ReBIT ``Frequency``); refusals beyond it are not exhaustion."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    value: Annotated[int, Field(ge=1, le=10_000)]
    unit: PeriodUnit


class DataLife(BaseModel):
    """How long the grantee may keep what it received (ReBIT ``DataLife``); ``INF`` has value 0."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    value: Annotated[int, Field(ge=0, le=100_000)]
    unit: DataLifeUnit

    @model_validator(mode="after")
    def _check(self) -> Self:
        if (self.unit is DataLifeUnit.INF) != (self.value == 0):
            raise InvalidConsentError("data life is either INF with value 0 or a positive count of a unit")
        return self


class DataRange(BaseModel):
    """The period of the subject's records the grantee may read (ReBIT ``DataDateTimeRange``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    start: _dt.datetime
    end: _dt.datetime

    @model_validator(mode="after")
    def _check(self) -> Self:
        _aware(self.start, "data_range.start")
        _aware(self.end, "data_range.end")
        if self.end <= self.start:
            raise InvalidConsentError("data_range.end must be after data_range.start")
        return self


class ApprovalChannel(StrEnum):
    """The channels the platform itself offers; other channel names are accepted as free text."""

    WEB = "web"
    MOBILE_APP = "mobile_app"
    COUNTER = "counter"


class SubjectAct(BaseModel):
    """Evidence of the subject's own act of consenting: who approved, when, from which account/channel."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    approved_by_account: Annotated[str, Field(min_length=1, max_length=128)]
    approved_at: _dt.datetime
    channel: Annotated[str, Field(min_length=1, max_length=64)]
    # e.g. the authentication method or certificate serial that backed the approval.
    authentication: Annotated[str, Field(max_length=256)] = ""

    @model_validator(mode="after")
    def _check(self) -> Self:
        _aware(self.approved_at, "evidence.approved_at")
        return self


class ConsentArtefact(BaseModel):
    """One consent: subject, grantee, purpose, scopes, modes, window, fetch terms, data life, evidence."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    schema_version: str = SCHEMA_VERSION
    consent_id: Annotated[str, Field(min_length=1, max_length=64)] = Field(default_factory=new_consent_id)
    subject: Annotated[Subject, BeforeValidator(_coerce_subject)]
    grantee: Annotated[str, Field(min_length=1, max_length=64)]
    requested_by_account: Annotated[str, Field(max_length=128)] = ""
    purpose: Purpose
    purpose_text: Annotated[str, Field(max_length=1000)] = ""
    scopes: frozenset[str]
    modes: frozenset[AccessMode]
    valid_from: _dt.datetime
    valid_until: _dt.datetime
    fetch_type: FetchType
    frequency: Frequency | None = None
    data_life: DataLife
    data_range: DataRange | None = None
    created_at: _dt.datetime
    evidence: SubjectAct | None = None

    @field_serializer("scopes", "modes")
    def _sorted(self, value: frozenset[str]) -> list[str]:
        # Sorted so the same consent always serialises (and hashes, and signs) identically.
        return sorted(str(v) for v in value)

    @model_validator(mode="after")
    def _check(self) -> Self:
        _aware(self.valid_from, "valid_from")
        _aware(self.valid_until, "valid_until")
        _aware(self.created_at, "created_at")
        if self.valid_until <= self.valid_from:
            raise InvalidConsentError("valid_until must be after valid_from")
        if not self.scopes:
            raise InvalidConsentError("a consent names at least one data scope")
        bad = sorted(s for s in self.scopes if not _SCOPE_RE.match(s))
        if bad:
            raise InvalidConsentError(
                f"malformed scopes {bad}: use dotted catalog categories or market:<dataset>"
            )
        if not self.modes:
            raise InvalidConsentError("a consent names at least one access mode")
        allowed = PURPOSE_MODES[self.purpose]
        extra = sorted(m.value for m in self.modes - allowed)
        if extra:
            raise InvalidConsentError(
                f"purpose {self.purpose.value} does not allow modes {extra} "
                f"(allowed: {sorted(m.value for m in allowed)})"
            )
        if self.fetch_type is FetchType.PERIODIC and self.frequency is None:
            raise InvalidConsentError("a PERIODIC consent needs a frequency limit")
        if self.fetch_type is FetchType.ONETIME and self.frequency is not None:
            raise InvalidConsentError("a ONETIME consent is used once: it has no frequency")
        sensitive = {s for s in self.scopes if is_sensitive(s, self.subject.kind)}
        if sensitive and sensitive != self.scopes:
            raise SensitiveScopeMixingError(
                f"sensitive scopes {sorted(sensitive)} need a consent of their own (PIPL art. 29); "
                f"remove {sorted(self.scopes - sensitive)} or ask for two consents"
            )
        if self.evidence is not None and self.evidence.approved_at < self.created_at:
            raise InvalidConsentError("the subject cannot approve a consent before it was requested")
        return self

    @property
    def sensitive(self) -> bool:
        """True for a separate consent over sensitive personal information (PIPL art. 29)."""
        return any(is_sensitive(s, self.subject.kind) for s in self.scopes)

    @property
    def is_signed(self) -> bool:
        return self.evidence is not None

    @property
    def subject_kind(self) -> SubjectKind:
        return self.subject.kind

    def signed(self, evidence: SubjectAct) -> ConsentArtefact:
        """The artefact as approved by the subject; an artefact is signed once and never again."""
        if self.evidence is not None:
            raise InvalidConsentError(
                f"consent {self.consent_id} is already signed; a change is a new consent"
            )
        if not isinstance(evidence, SubjectAct):
            evidence = SubjectAct.model_validate(evidence)
        if evidence.approved_at < self.created_at:
            raise InvalidConsentError("the subject cannot approve a consent before it was requested")
        # Everything else was validated when this artefact was made and the evidence is a validated value:
        # a copy with it attached is the signed artefact (re-validating it all cost most of a grant).
        return self.model_copy(update={"evidence": evidence})
