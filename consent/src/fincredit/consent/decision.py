"""The one function that decides: may grantee G access scopes S of subject X for purpose P in mode M now?

Every disclosure route calls :func:`decide` and nothing else decides. It is pure: the caller loads the
grantee's consents for the subject (one indexed lookup on ``(grantee, subject)``) and passes them in.

When it refuses it names the *most specific* reason: each candidate consent is checked in the order
purpose → status → scopes → mode → validity window → frequency, and the consent that got furthest is the
one the refusal talks about ("your consent for this was revoked" beats "you have a consent, but for another
purpose"). Status comes before scopes: a revoked consent is refused as revoked whatever was asked of it.
Ties at the status stage go to the consent whose status changed last.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Iterable, Iterator
from enum import IntEnum, StrEnum

from fincredit.consent.identifiers import Subject
from fincredit.consent.lifecycle import ConsentState, ConsentStatus, period_key
from fincredit.consent.vocabulary import AccessMode, FetchType, Purpose, is_sensitive, scope_covers

__all__ = [
    "AccessRequest",
    "Allowed",
    "Basis",
    "ConsentIndex",
    "Decision",
    "RefusalReason",
    "Refused",
    "decide",
]


class RefusalReason(StrEnum):
    NO_CONSENT = "no_consent"
    WRONG_PURPOSE = "wrong_purpose"
    SCOPE_NOT_COVERED = "scope_not_covered"
    MODE_NOT_COVERED = "mode_not_covered"
    NOT_GRANTED = "not_granted"  # still PENDING: the subject has not answered
    REJECTED = "rejected"
    REVOKED = "revoked"
    EXPIRED = "expired"
    EXHAUSTED = "exhausted"
    PAUSED = "paused"
    NOT_YET_VALID = "not_yet_valid"
    FREQUENCY_EXCEEDED = "frequency_exceeded"
    MIXED_SENSITIVE_REQUEST = "mixed_sensitive_request"


class Basis(StrEnum):
    CONSENT = "consent"
    CREDIT_AUTHORITY = "credit_authority"  # G§16: the credit authority needs no subject consent


class _Stage(IntEnum):
    PURPOSE = 1
    STATUS = 2
    SCOPE = 3
    MODE = 4
    WINDOW = 5
    FREQUENCY = 6


_STATUS_REASON = {
    ConsentStatus.PENDING: RefusalReason.NOT_GRANTED,
    ConsentStatus.REJECTED: RefusalReason.REJECTED,
    ConsentStatus.REVOKED: RefusalReason.REVOKED,
    ConsentStatus.EXPIRED: RefusalReason.EXPIRED,
    ConsentStatus.EXHAUSTED: RefusalReason.EXHAUSTED,
    ConsentStatus.PAUSED: RefusalReason.PAUSED,
}


@dataclasses.dataclass(frozen=True, slots=True)
class AccessRequest:
    """Who wants what about whom, why and how. ``account`` is the grantee's user, for the ledger."""

    grantee: str
    subject: Subject
    scopes: frozenset[str]
    purpose: Purpose
    mode: AccessMode
    account: str = ""
    grantee_is_credit_authority: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.scopes, frozenset):
            object.__setattr__(self, "scopes", frozenset(self.scopes))
        if not self.scopes:
            raise ValueError("an access request names at least one scope")


@dataclasses.dataclass(frozen=True, slots=True)
class Allowed:
    basis: Basis
    consent_id: str | None
    scopes: frozenset[str]
    # Uses left in the current frequency period after this one, None when there is no frequency limit.
    remaining_in_period: int | None = None
    allowed: bool = dataclasses.field(default=True, init=False)


@dataclasses.dataclass(frozen=True, slots=True)
class Refused:
    reason: RefusalReason
    message: str
    # The consent the refusal is about (the one that came closest), None for no_consent.
    consent_id: str | None = None
    allowed: bool = dataclasses.field(default=False, init=False)


Decision = Allowed | Refused


def _covers_all(state: ConsentState, request: AccessRequest) -> bool:
    granted = state.artefact.scopes
    kind = request.subject.kind
    for r in request.scopes:
        if r in granted:
            continue
        if not any(scope_covers(g, r, kind) for g in granted):
            return False
    return True


def _check(state: ConsentState, request: AccessRequest, now: _dt.datetime) -> tuple[_Stage, Refused | None]:
    """How far this consent gets towards allowing the request, and why it stops (None: it allows)."""
    a = state.artefact
    cid = a.consent_id
    if a.purpose is not request.purpose:
        return _Stage.PURPOSE, Refused(
            RefusalReason.WRONG_PURPOSE,
            f"consent {cid} is for {a.purpose.value}, not {request.purpose.value}",
            cid,
        )
    status = state.status
    if status is not ConsentStatus.ACTIVE and status is not ConsentStatus.PAUSED:
        reason = _STATUS_REASON[status]
        return _Stage.STATUS, Refused(
            reason, f"consent {cid} was {status.value.lower()} at {state.status_changed_at.isoformat()}", cid
        )
    if now >= a.valid_until:
        # Not yet swept to EXPIRED by the platform's job, but expired all the same.
        return _Stage.STATUS, Refused(
            RefusalReason.EXPIRED, f"consent {cid} expired at {a.valid_until.isoformat()}", cid
        )
    if status is ConsentStatus.PAUSED:
        return _Stage.STATUS, Refused(
            RefusalReason.PAUSED,
            f"consent {cid} is paused by the subject since {state.status_changed_at.isoformat()}",
            cid,
        )
    if not _covers_all(state, request):
        missing = sorted(
            r for r in request.scopes if not any(scope_covers(g, r, request.subject.kind) for g in a.scopes)
        )
        return _Stage.SCOPE, Refused(
            RefusalReason.SCOPE_NOT_COVERED, f"consent {cid} does not cover scopes {missing}", cid
        )
    if request.mode not in a.modes:
        return _Stage.MODE, Refused(
            RefusalReason.MODE_NOT_COVERED, f"consent {cid} does not allow mode {request.mode.value}", cid
        )
    if now < a.valid_from:
        return _Stage.WINDOW, Refused(
            RefusalReason.NOT_YET_VALID, f"consent {cid} is valid from {a.valid_from.isoformat()}", cid
        )
    freq = a.frequency
    if (
        freq is not None
        and state.period_key == period_key(freq.unit, now)
        and state.period_uses >= freq.value
    ):
        return _Stage.FREQUENCY, Refused(
            RefusalReason.FREQUENCY_EXCEEDED,
            f"consent {cid} allows {freq.value} uses per {freq.unit.value.lower()}; all are used",
            cid,
        )
    return _Stage.FREQUENCY, None


def _preference(state: ConsentState) -> tuple[int, _dt.datetime, str]:
    # Use a standing (PERIODIC) consent before burning a ONETIME one, then the one ending soonest.
    a = state.artefact
    return (a.fetch_type is FetchType.ONETIME, a.valid_until, a.consent_id)


def decide(consents: Iterable[ConsentState], request: AccessRequest, now: _dt.datetime) -> Decision:
    """Allow the request under one consent (or the credit-authority basis), or refuse it with a reason.

    ``consents`` may contain anything: those of other grantees or subjects are ignored, so the caller can
    pass a superset. A request whose scopes mix sensitive and ordinary categories is refused outright,
    since no single consent can cover both (PIPL art. 29): the caller must split it.
    """
    if request.grantee_is_credit_authority:
        return Allowed(Basis.CREDIT_AUTHORITY, None, request.scopes)
    kind = request.subject.kind
    sensitive = [is_sensitive(s, kind) for s in request.scopes]
    if any(sensitive) and not all(sensitive):
        return Refused(
            RefusalReason.MIXED_SENSITIVE_REQUEST,
            "sensitive and ordinary scopes are granted by separate consents; request them separately",
        )
    best_stage = 0
    best: Refused | None = None
    best_changed: _dt.datetime | None = None
    winners: list[ConsentState] = []
    code = request.subject.code
    for state in consents:
        a = state.artefact
        if a.grantee != request.grantee or a.subject.code != code:
            continue
        stage, refusal = _check(state, request, now)
        if refusal is None:
            winners.append(state)
            continue
        if stage > best_stage or (
            stage == best_stage and best_changed is not None and state.status_changed_at > best_changed
        ):
            best_stage, best, best_changed = stage, refusal, state.status_changed_at
    if winners:
        chosen = min(winners, key=_preference)
        freq = chosen.artefact.frequency
        remaining = None
        if freq is not None:
            remaining = freq.value - chosen.uses_in_period(now) - 1
        return Allowed(Basis.CONSENT, chosen.consent_id, request.scopes, remaining)
    if best is None:
        return Refused(
            RefusalReason.NO_CONSENT,
            f"{request.grantee} holds no consent from {request.subject.masked}",
        )
    return best


class ConsentIndex:
    """An in-memory index of consent states by (grantee, subject code): the shape of the DB lookup.

    The platform keeps consents in its database with an index on (grantee, subject); this class is the
    same access path in memory, for tests, benchmarks and small deployments.
    """

    def __init__(self, states: Iterable[ConsentState] = ()) -> None:
        self._by_key: dict[tuple[str, str], dict[str, ConsentState]] = {}
        for s in states:
            self.put(s)

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_key.values())

    def put(self, state: ConsentState) -> None:
        """Insert a consent or replace its previous state (same consent id)."""
        a = state.artefact
        self._by_key.setdefault((a.grantee, a.subject.code), {})[a.consent_id] = state

    def get(self, grantee: str, subject_code: str, consent_id: str) -> ConsentState:
        return self._by_key[(grantee, subject_code)][consent_id]

    def __iter__(self) -> Iterator[ConsentState]:
        for states in self._by_key.values():
            yield from states.values()

    def candidates(self, grantee: str, subject_code: str) -> list[ConsentState]:
        found = self._by_key.get((grantee, subject_code))
        return list(found.values()) if found else []

    def decide(self, request: AccessRequest, now: _dt.datetime) -> Decision:
        return decide(self.candidates(request.grantee, request.subject.code), request, now)
