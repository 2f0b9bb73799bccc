"""The one gate every disclosure passes: :func:`authorize_access` (and its batch form).

It loads the grantee's consents for the subject (one indexed lookup on (grantee, subject), rows locked
so two requests cannot both spend a ONETIME consent), asks the library's :func:`decide`, and in the
caller's transaction records the use and appends the ledger entry. A refusal fails the caller's request,
yet must stay on the record: the caller's transaction is rolled back (nothing it did survives), the
refusal is committed in a transaction of its own, and :class:`ConsentRefused` (403) is raised.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from fincredit.consent import (
    EVENT_ENTRY,
    AccessMode,
    AccessRequest,
    Basis,
    ConsentEvent,
    ConsentState,
    ConsentStatus,
    Decision,
    EntryType,
    LedgerEntry,
    Purpose,
    Refused,
    UsageRefusedError,
    decide,
)
from fincredit.consent import Allowed as Decided
from fincredit.consent import Subject as LibSubject

from ..db import Subject, utcnow
from ..db.consent import Consent
from ..errors import Conflict, ConsentRefused, InvalidInput, NotFound
from ..identity.principal import Principal
from ..keyring import Keyring
from ..services import Services
from ..subjects import find_subject
from . import _ledger
from ._records import library_subject, state_of, update_row

_CHUNK = 500


@dataclasses.dataclass(frozen=True, slots=True)
class Allowed:
    """An allowed access: the library's decision plus what the ledger needs to record the disclosure.

    ``ledger_seq`` is the disclosure entry, or None while it waits for :func:`record_disclosure`.
    """

    decision: Decided
    request: AccessRequest
    subject_id: int
    route: str
    at: dt.datetime
    ledger_seq: int | None

    @property
    def consent_id(self) -> str | None:
        return self.decision.consent_id

    @property
    def basis(self) -> Basis:
        return self.decision.basis

    @property
    def remaining_in_period(self) -> int | None:
        return self.decision.remaining_in_period


@dataclasses.dataclass(frozen=True, slots=True)
class SubjectDecision:
    """One subject's outcome in a batch: allowed (and ledgered) or refused (and ledgered)."""

    subject_id: int
    decision: Decision
    ledger_seq: int | None

    @property
    def allowed(self) -> bool:
        return self.decision.allowed


def _entry_type(mode: AccessMode) -> EntryType:
    if mode is AccessMode.MODEL_TRAINING:
        return EntryType.JOINT_MODELLING_USE
    if mode is AccessMode.SCORING:
        return EntryType.SCORING_USE
    return EntryType.DISCLOSURE


def _resolve(session: Session, services: Services, subject: Subject | str | int) -> Subject:
    if isinstance(subject, Subject):
        return subject
    if isinstance(subject, int):
        row = session.get(Subject, subject)
        if row is None:
            raise NotFound(f"no subject {subject}")
        return row
    return find_subject(session, services.keyring, subject)


def _is_authority(services: Services, principal: Principal) -> bool:
    # G§16 bypass: the organisation is the credit authority AND its role carries the explicit permission.
    return principal.is_credit_authority and services.authz.enforce(
        principal, "credit_info", "query_without_consent"
    )


def build_request(
    services: Services,
    principal: Principal,
    subject: LibSubject,
    scopes: Iterable[str],
    purpose: Purpose | str,
    mode: AccessMode | str,
) -> AccessRequest:
    try:
        return AccessRequest(
            grantee=principal.org_id or principal.account_id,
            subject=subject,
            scopes=frozenset(scopes),
            purpose=Purpose(purpose),
            mode=AccessMode(mode),
            account=principal.account_id,
            grantee_is_credit_authority=_is_authority(services, principal),
        )
    except ValueError as exc:
        raise InvalidInput(f"not a valid access request: {exc}") from None


def _candidates(
    session: Session, grantee: str, subject_ids: Sequence[int], *, lock: bool
) -> dict[int, list[Consent]]:
    out: dict[int, list[Consent]] = {sid: [] for sid in subject_ids}
    for i in range(0, len(subject_ids), _CHUNK):
        q = (
            select(Consent)
            .where(Consent.grantee_org_id == grantee, Consent.subject_id.in_(subject_ids[i : i + _CHUNK]))
            .order_by(Consent.id)
        )
        if lock:
            q = q.with_for_update()
        for row in session.scalars(q):
            out[row.subject_id].append(row)
    return out


class _Pending:
    """Ledger entries (as makers) and consent row changes of one authorization, written together."""

    def __init__(self, services: Services, at: dt.datetime, actor: str) -> None:
        self.services = services
        self.at = at
        self.actor = actor
        self.indexer = _ledger.subject_indexer(services.keyring)
        self.makers: list[_ledger.EntryMaker] = []

    def consent_event(self, state: ConsentState, entry_type: EntryType, actor: str | None = None) -> None:
        who, at, idx = actor or self.actor, self.at, self.indexer
        self.makers.append(lambda seq: LedgerEntry.consent_event(seq, at, state, entry_type, who, idx))

    def access(
        self,
        request: AccessRequest,
        decision: Decision,
        route: str,
        payload_digest: str | None,
    ) -> int:
        """Queue the access entry; returns its position among this batch's entries."""
        at, idx = self.at, self.indexer
        et = None if isinstance(decision, Refused) else _entry_type(request.mode)
        self.makers.append(
            lambda seq: LedgerEntry.access(
                seq, at, request, decision, idx, route=route, payload_sha256=payload_digest, entry_type=et
            )
        )
        return len(self.makers) - 1

    def write(self, session: Session) -> list[LedgerEntry]:
        return _ledger.append(session, self.services, self.makers)


def expire_if_due(
    keyring: Keyring,
    rows: Iterable[Consent],
    states: dict[str, ConsentState],
    pending: _Pending,
    now: dt.datetime,
) -> None:
    """Lazy expiry: a consent past its end becomes EXPIRED (and ledgered) when it is touched."""
    for row in rows:
        state = states[row.id]
        if state.is_due_to_expire(now):
            expired = state.expire_if_due(now)
            update_row(keyring, row, expired, artefact_changed=False)
            states[row.id] = expired
            pending.consent_event(expired, EVENT_ENTRY[ConsentEvent.EXPIRE], actor="platform")


def _use(keyring: Keyring, row: Consent, state: ConsentState, now: dt.datetime) -> list[ConsentState]:
    try:
        used = state.record_use(now)
    except UsageRefusedError as exc:  # cannot happen under the row lock; kept as a hard stop
        raise Conflict(str(exc)) from None
    update_row(keyring, row, used, artefact_changed=False)
    return [used] if used.status is ConsentStatus.EXHAUSTED else []


def _refuse(
    session: Session,
    services: Services,
    request: AccessRequest,
    refusal: Refused,
    route: str,
    subject_id: int,
    now: dt.datetime,
) -> ConsentRefused:
    # The caller's transaction fails with the request; roll it back first so its locks (the SQLite write
    # lock, PostgreSQL row locks) are released before the refusal's own transaction takes them.
    session.rollback()
    with services.tx() as own:
        pending = _Pending(services, now, request.account or request.grantee)
        rows = _candidates(own, request.grantee, [subject_id], lock=True)[subject_id]
        states = {r.id: state_of(services.keyring, r) for r in rows}
        expire_if_due(services.keyring, rows, states, pending, now)
        position = pending.access(request, refusal, route, None)
        entries = pending.write(own)
        seq = entries[position].seq
    return ConsentRefused(
        refusal.message,
        reason=refusal.reason.value,
        consent_id=refusal.consent_id,
        ledger_seq=seq,
    )


def authorize_access(
    session: Session,
    services: Services,
    *,
    principal: Principal,
    subject: Subject | str | int,
    scopes: Iterable[str],
    purpose: Purpose | str,
    mode: AccessMode | str,
    route: str,
    payload_digest: str | None = None,
    defer_disclosure: bool = False,
    now: dt.datetime | None = None,
) -> Allowed:
    """May ``principal``'s organisation access ``scopes`` of ``subject`` for ``purpose`` in ``mode`` now?

    Allowed: the use is counted (a ONETIME consent becomes EXHAUSTED) and the disclosure entry appended,
    all in ``session``'s transaction, so if that transaction fails nothing is disclosed and nothing is
    ledgered. With ``defer_disclosure`` the entry waits for :func:`record_disclosure` (when the digest of
    the payload is known only after building it). Refused: see the module docstring; raises
    :class:`ConsentRefused` with the library's reason code and the refusal's ledger sequence number.
    """
    now = now or utcnow()
    row = _resolve(session, services, subject)
    subject_id = row.id
    request = build_request(
        services, principal, library_subject(services.keyring, row), scopes, purpose, mode
    )
    rows: list[Consent] = []
    if not request.grantee_is_credit_authority:
        rows = _candidates(session, request.grantee, [subject_id], lock=True)[subject_id]
    states = {r.id: state_of(services.keyring, r) for r in rows}
    decision = decide(states.values(), request, now)
    if isinstance(decision, Refused):
        raise _refuse(session, services, request, decision, route, subject_id, now)
    pending = _Pending(services, now, request.account or request.grantee)
    expire_if_due(services.keyring, rows, states, pending, now)
    position = None
    if not defer_disclosure:
        position = pending.access(request, decision, route, payload_digest)
    if decision.consent_id is not None:
        chosen = next(r for r in rows if r.id == decision.consent_id)
        for exhausted in _use(services.keyring, chosen, states[chosen.id], now):
            pending.consent_event(exhausted, EVENT_ENTRY[ConsentEvent.EXHAUST], actor="platform")
    entries = pending.write(session)
    seq = None if position is None else entries[position].seq
    return Allowed(decision, request, subject_id, route, now, seq)


def record_disclosure(
    session: Session, services: Services, allowed: Allowed, *, payload_digest: str | None
) -> int:
    """Append the disclosure entry of a deferred :func:`authorize_access`, in the transaction that reads
    the disclosed data; returns its sequence number."""
    if allowed.ledger_seq is not None:
        raise Conflict(f"this access is already ledgered as entry {allowed.ledger_seq}")
    pending = _Pending(services, utcnow(), allowed.request.account or allowed.request.grantee)
    position = pending.access(allowed.request, allowed.decision, allowed.route, payload_digest)
    return pending.write(session)[position].seq


def authorize_many(
    session: Session,
    services: Services,
    *,
    principal: Principal,
    subjects: Sequence[Subject | int],
    scopes: Iterable[str],
    purpose: Purpose | str,
    mode: AccessMode | str,
    route: str,
    now: dt.datetime | None = None,
) -> list[SubjectDecision]:
    """Decide for many subjects at once (PSI alignment, batch scoring): one candidate lookup per chunk
    of subjects, one ledger append for all entries (a disclosure or a refusal per subject), all in
    ``session``'s transaction. Refusals do not raise here: the caller proceeds with the allowed ones."""
    now = now or utcnow()
    scope_set = frozenset(scopes)
    rows_by_id: list[Subject] = []
    for s in subjects:
        rows_by_id.append(_resolve(session, services, s))
    ids = [r.id for r in rows_by_id]
    grantee = principal.org_id or principal.account_id
    authority = _is_authority(services, principal)
    candidates = {} if authority else _candidates(session, grantee, sorted(set(ids)), lock=True)
    pending = _Pending(services, now, principal.account_id or grantee)
    positions: list[int] = []
    decisions: list[Decision] = []
    for row in rows_by_id:
        request = build_request(
            services, principal, library_subject(services.keyring, row), scope_set, purpose, mode
        )
        cands = candidates.get(row.id, [])
        states = {r.id: state_of(services.keyring, r) for r in cands}
        expire_if_due(services.keyring, cands, states, pending, now)
        decision = decide(states.values(), request, now)
        positions.append(pending.access(request, decision, route, None))
        decisions.append(decision)
        if isinstance(decision, Decided) and decision.consent_id is not None:
            chosen = next(r for r in cands if r.id == decision.consent_id)
            for exhausted in _use(services.keyring, chosen, states[chosen.id], now):
                pending.consent_event(exhausted, EVENT_ENTRY[ConsentEvent.EXHAUST], actor="platform")
    entries = pending.write(session)
    return [
        SubjectDecision(sid, d, entries[p].seq) for sid, d, p in zip(ids, decisions, positions, strict=True)
    ]


def check_access(
    session: Session,
    services: Services,
    *,
    principal: Principal,
    subject: Subject | str | int,
    scopes: Iterable[str],
    purpose: Purpose | str,
    mode: AccessMode | str,
    now: dt.datetime | None = None,
) -> Decision:
    """The same decision :func:`authorize_access` would take now, without using or ledgering anything."""
    now = now or utcnow()
    row = _resolve(session, services, subject)
    request = build_request(
        services, principal, library_subject(services.keyring, row), scopes, purpose, mode
    )
    if request.grantee_is_credit_authority:
        return decide((), request, now)
    rows = _candidates(session, request.grantee, [row.id], lock=False)[row.id]
    return decide((state_of(services.keyring, r) for r in rows), request, now)
