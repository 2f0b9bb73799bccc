"""Consent lifecycle: the status machine and usage tracking.

::

    PENDING --grant--> ACTIVE --pause--> PAUSED --resume--> ACTIVE
       |                 |  \\--revoke / expire / exhaust-->  REVOKED / EXPIRED / EXHAUSTED
       \\--reject--> REJECTED        PAUSED --revoke / expire--> REVOKED / EXPIRED

    PENDING, ACTIVE, PAUSED --amend--> (same status, new scopes or terms)

:class:`ConsentState` is immutable: every event returns a new state, which is what the platform writes to
its database in the same transaction as the ledger entry recording the event. Revocation is effective for
every later :func:`~fincredit.consent.decision.decide` call and is not retroactive (earlier disclosures
stay in the ledger as they were).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from enum import StrEnum
from typing import Self

from fincredit.consent.artefact import ConsentArtefact, SubjectAct
from fincredit.consent.errors import IllegalTransitionError, InvalidConsentError, UsageRefusedError
from fincredit.consent.vocabulary import FetchType, PeriodUnit

__all__ = ["TERMINAL", "TRANSITIONS", "ConsentEvent", "ConsentState", "ConsentStatus", "period_key"]


class ConsentStatus(StrEnum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    REJECTED = "REJECTED"
    PAUSED = "PAUSED"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"
    EXHAUSTED = "EXHAUSTED"


class ConsentEvent(StrEnum):
    GRANT = "grant"
    REJECT = "reject"
    PAUSE = "pause"
    RESUME = "resume"
    REVOKE = "revoke"
    EXPIRE = "expire"
    EXHAUST = "exhaust"
    AMEND = "amend"  # a change of scope or term (see ConsentState.amend)


_S, _E = ConsentStatus, ConsentEvent
TRANSITIONS: dict[tuple[ConsentStatus, ConsentEvent], ConsentStatus] = {
    (_S.PENDING, _E.GRANT): _S.ACTIVE,
    (_S.PENDING, _E.REJECT): _S.REJECTED,
    (_S.ACTIVE, _E.PAUSE): _S.PAUSED,
    (_S.ACTIVE, _E.REVOKE): _S.REVOKED,
    (_S.ACTIVE, _E.EXPIRE): _S.EXPIRED,
    (_S.ACTIVE, _E.EXHAUST): _S.EXHAUSTED,
    (_S.PAUSED, _E.RESUME): _S.ACTIVE,
    (_S.PAUSED, _E.REVOKE): _S.REVOKED,
    (_S.PAUSED, _E.EXPIRE): _S.EXPIRED,
    (_S.PENDING, _E.AMEND): _S.PENDING,
    (_S.ACTIVE, _E.AMEND): _S.ACTIVE,
    (_S.PAUSED, _E.AMEND): _S.PAUSED,
}
TERMINAL = frozenset({_S.REJECTED, _S.REVOKED, _S.EXPIRED, _S.EXHAUSTED})

_PAST_TENSE = {
    _E.GRANT: "granted",
    _E.REJECT: "rejected",
    _E.PAUSE: "paused",
    _E.RESUME: "resumed",
    _E.REVOKE: "revoked",
    _E.EXPIRE: "expired",
    _E.EXHAUST: "exhausted",
    _E.AMEND: "amended",
}

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


def period_key(unit: PeriodUnit, at: _dt.datetime) -> int:
    """The number of the calendar period (UTC) that ``at`` falls in; equal keys mean the same period."""
    t = at.astimezone(_dt.UTC)
    if unit is PeriodUnit.HOUR:
        return int((t - _EPOCH).total_seconds()) // 3600
    if unit is PeriodUnit.DAY:
        return (t.date() - _EPOCH.date()).days
    if unit is PeriodUnit.WEEK:
        # 1970-01-01 was a Thursday; shifting by 3 days makes weeks start on Monday (ISO 8601).
        return ((t.date() - _EPOCH.date()).days + 3) // 7
    if unit is PeriodUnit.MONTH:
        return t.year * 12 + t.month - 1
    return t.year


@dataclasses.dataclass(frozen=True, slots=True)
class ConsentState:
    """A consent artefact with its current status and use counters."""

    artefact: ConsentArtefact
    status: ConsentStatus
    status_changed_at: _dt.datetime
    use_count: int = 0
    last_used_at: _dt.datetime | None = None
    # Frequency accounting: uses in the period numbered ``period_key`` (see :func:`period_key`).
    period_key: int | None = None
    period_uses: int = 0

    @classmethod
    def requested(cls, artefact: ConsentArtefact) -> Self:
        """A bank's request: PENDING until the subject grants or rejects it."""
        if artefact.is_signed:
            raise InvalidConsentError("a new request cannot already carry the subject's approval")
        return cls(artefact=artefact, status=ConsentStatus.PENDING, status_changed_at=artefact.created_at)

    @property
    def consent_id(self) -> str:
        return self.artefact.consent_id

    def _to(self, event: ConsentEvent, at: _dt.datetime, **changes: object) -> Self:
        target = TRANSITIONS.get((self.status, event))
        if target is None:
            raise IllegalTransitionError(self.consent_id, self.status.value, _PAST_TENSE[event])
        if at.tzinfo is None:
            raise InvalidConsentError("transition times must carry a time zone")
        return dataclasses.replace(self, status=target, status_changed_at=at, **changes)  # type: ignore[arg-type]

    def apply(self, event: ConsentEvent, at: _dt.datetime) -> Self:
        """Any event but GRANT (which needs the subject's evidence: use :meth:`grant`)."""
        if event is ConsentEvent.GRANT:
            raise InvalidConsentError("granting needs the subject's evidence: call grant()")
        if event is ConsentEvent.AMEND:
            raise InvalidConsentError("amending needs the new terms: call amend()")
        return self._to(event, at)

    def grant(self, evidence: SubjectAct, at: _dt.datetime | None = None) -> Self:
        """The subject approves: the artefact is signed with the evidence and becomes ACTIVE."""
        at = at or evidence.approved_at
        if self.status is ConsentStatus.PENDING and at >= self.artefact.valid_until:
            raise InvalidConsentError(f"consent {self.consent_id} ended before it was granted")
        target = TRANSITIONS.get((self.status, ConsentEvent.GRANT))
        if target is None:
            raise IllegalTransitionError(self.consent_id, self.status.value, "granted")
        return self._to(ConsentEvent.GRANT, at, artefact=self.artefact.signed(evidence))

    def amend(self, artefact: ConsentArtefact, at: _dt.datetime) -> Self:
        """A change of scope or term: the same consent (id, subject, grantee, purpose) with new terms.

        Once granted, new terms carry the subject's own act of approving them (``artefact.evidence``, at or
        before ``at``): a grantee cannot widen what it was given. Use counts carry over.
        """
        if (self.status, ConsentEvent.AMEND) not in TRANSITIONS:
            raise IllegalTransitionError(self.consent_id, self.status.value, "amended")
        old = self.artefact
        for name in ("consent_id", "subject", "grantee", "purpose"):
            if getattr(artefact, name) != getattr(old, name):
                raise InvalidConsentError(
                    f"an amendment keeps the consent's {name}; a different {name} is a new consent"
                )
        if self.status is not ConsentStatus.PENDING:
            ev = artefact.evidence
            if ev is None or ev.approved_at > at:
                raise InvalidConsentError(
                    f"consent {self.consent_id} is {self.status.value}: new terms need the subject's approval"
                )
        return self._to(ConsentEvent.AMEND, at, artefact=artefact)

    def reject(self, at: _dt.datetime) -> Self:
        return self._to(ConsentEvent.REJECT, at)

    def pause(self, at: _dt.datetime) -> Self:
        return self._to(ConsentEvent.PAUSE, at)

    def resume(self, at: _dt.datetime) -> Self:
        return self._to(ConsentEvent.RESUME, at)

    def revoke(self, at: _dt.datetime) -> Self:
        return self._to(ConsentEvent.REVOKE, at)

    def expire(self, at: _dt.datetime) -> Self:
        return self._to(ConsentEvent.EXPIRE, at)

    def exhaust(self, at: _dt.datetime) -> Self:
        return self._to(ConsentEvent.EXHAUST, at)

    def is_due_to_expire(self, now: _dt.datetime) -> bool:
        return (
            self.status in (ConsentStatus.ACTIVE, ConsentStatus.PAUSED) and now >= self.artefact.valid_until
        )

    def expire_if_due(self, now: _dt.datetime) -> Self:
        """The sweeper's step: EXPIRED at ``valid_until`` for an ACTIVE or PAUSED consent, else unchanged."""
        return self.expire(self.artefact.valid_until) if self.is_due_to_expire(now) else self

    def uses_in_period(self, at: _dt.datetime) -> int:
        freq = self.artefact.frequency
        if freq is None or self.period_key != period_key(freq.unit, at):
            return 0
        return self.period_uses

    def record_use(self, at: _dt.datetime) -> Self:
        """Count one use allowed by :func:`decide`; a ONETIME consent is EXHAUSTED by it.

        Raises :class:`UsageRefusedError` if the consent may not be used now: a second writer that raced
        past ``decide`` must fail inside its transaction rather than overrun the limit.
        """
        if self.status is not ConsentStatus.ACTIVE:
            raise UsageRefusedError(f"consent {self.consent_id} is {self.status.value}; it cannot be used")
        a = self.artefact
        if not (a.valid_from <= at < a.valid_until):
            raise UsageRefusedError(f"consent {self.consent_id} is not valid at {at.isoformat()}")
        changes: dict[str, object] = {"use_count": self.use_count + 1, "last_used_at": at}
        if a.frequency is not None:
            key = period_key(a.frequency.unit, at)
            uses = self.period_uses if self.period_key == key else 0
            if uses >= a.frequency.value:
                raise UsageRefusedError(
                    f"consent {self.consent_id} allows {a.frequency.value} uses per "
                    f"{a.frequency.unit.value.lower()}; this period's are used"
                )
            changes.update(period_key=key, period_uses=uses + 1)
        used = dataclasses.replace(self, **changes)  # type: ignore[arg-type]
        if a.fetch_type is FetchType.ONETIME:
            return used._to(ConsentEvent.EXHAUST, at)
        return used
