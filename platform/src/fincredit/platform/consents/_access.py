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
from typing import cast

from sqlalchemy import ColumnElement, Table, and_, bindparam, or_, select, tuple_
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
from fincredit.platform.consents import _ledger
from fincredit.platform.consents._records import library_subject, state_of, update_row
from fincredit.platform.consents.tables import Consent
from fincredit.platform.core.db import Subject, update_rows, utcnow
from fincredit.platform.core.errors import Conflict, ConsentRefused, InvalidInput, NotFound
from fincredit.platform.core.keyring import Keyring
from fincredit.platform.core.services import Services
from fincredit.platform.identity.principal import Principal
from fincredit.platform.subjects import find_subject

_CHUNK = 500


@dataclasses.dataclass(frozen=True, slots=True)
class Allowed:
    """An allowed access: the library's decision plus what the ledger needs to record the disclosure.

    ``ledger_seq`` is the disclosure entry, or None while it waits for :func:`record_disclosure`;
    ``exhausted`` is the consent this use spent, whose exhaustion entry must follow that disclosure entry.
    """

    decision: Decided
    request: AccessRequest
    subject_id: int
    route: str
    at: dt.datetime
    ledger_seq: int | None
    exhausted: ConsentState | None = None

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
    found = _candidates_of(session, [(grantee, sid) for sid in subject_ids], lock=lock)
    return {sid: found.get((grantee, sid), []) for sid in subject_ids}


_CONSENTS = cast(Table, Consent.__table__)
_PAIRS = (
    select(Consent)
    .where(tuple_(Consent.grantee_org_id, Consent.subject_id).in_(bindparam("pairs", expanding=True)))
    .order_by(Consent.id)
)
_PAIRS_LOCKED = _PAIRS.with_for_update()


def _candidates_of(
    session: Session, pairs: Sequence[tuple[str, int]], *, lock: bool
) -> dict[tuple[str, int], list[Consent]]:
    """The consents of each (grantee, subject) pair: one statement per ``_CHUNK`` subjects, each pair an
    index probe on (grantee, subject) (on SQLite an OR of ``grantee = g AND subject_id IN (...)``). Rows come
    and are locked in consent-id order, so two batches locking overlapping rows queue instead of
    deadlocking."""
    out: dict[tuple[str, int], list[Consent]] = {}
    unique = list(dict.fromkeys(pairs))
    if session.get_bind().dialect.name == "postgresql":
        # One prebuilt statement (a row-value IN is an index probe on PostgreSQL, not on SQLite).
        statement = _PAIRS_LOCKED if lock else _PAIRS
        for i in range(0, len(unique), _CHUNK):
            for row in session.scalars(statement, {"pairs": unique[i : i + _CHUNK]}):
                out.setdefault((row.grantee_org_id, row.subject_id), []).append(row)
        return out
    by_grantee: dict[str, list[int]] = {}
    for grantee, sid in unique:
        by_grantee.setdefault(grantee, []).append(sid)
    terms: list[ColumnElement[bool]] = []
    counted = 0

    def run() -> None:
        q = select(Consent).where(or_(*terms)).order_by(Consent.id)
        if lock:
            q = q.with_for_update()
        for row in session.scalars(q):
            out.setdefault((row.grantee_org_id, row.subject_id), []).append(row)

    for grantee, ids in by_grantee.items():
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            terms.append(and_(Consent.grantee_org_id == grantee, Consent.subject_id.in_(chunk)))
            counted += len(chunk)
            if counted >= _CHUNK:
                run()
                terms, counted = [], 0
    if terms:
        run()
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
        """Queue the access entry (its type, e.g. ``report_issued`` or ``scoring_use``, follows from the
        request's purpose and mode); returns its position among this batch's entries."""
        at, idx = self.at, self.indexer
        self.makers.append(
            lambda seq: LedgerEntry.access(
                seq, at, request, decision, idx, route=route, payload_sha256=payload_digest
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


def _recorded_use(state: ConsentState, now: dt.datetime) -> ConsentState:
    try:
        return state.record_use(now)
    except UsageRefusedError as exc:  # cannot happen under the row lock; kept as a hard stop
        raise Conflict(str(exc)) from None


def _exhaust(pending: _Pending, used: ConsentState) -> None:
    # Queued after the access entry that spent the consent: the log shows the use, then its consequence.
    pending.consent_event(used, EVENT_ENTRY[ConsentEvent.EXHAUST], actor="platform")


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
    exhausted = None
    if decision.consent_id is not None:
        chosen = next(r for r in rows if r.id == decision.consent_id)
        used = _recorded_use(states[chosen.id], now)
        update_row(services.keyring, chosen, used, artefact_changed=False)
        if used.status is ConsentStatus.EXHAUSTED:
            if defer_disclosure:
                exhausted = used
            else:
                _exhaust(pending, used)
    entries = pending.write(session)
    seq = None if position is None else entries[position].seq
    return Allowed(decision, request, subject_id, route, now, seq, exhausted)


def record_disclosure(
    session: Session, services: Services, allowed: Allowed, *, payload_digest: str | None
) -> int:
    """Append the disclosure entry of a deferred :func:`authorize_access` (and after it the exhaustion of
    the consent it spent), in the transaction that reads the disclosed data; returns its sequence number.

    The entry carries the time of the decision, not of this call: the use was counted in the frequency
    period of that moment, and the log must place it there too.
    """
    if allowed.ledger_seq is not None:
        raise Conflict(f"this access is already ledgered as entry {allowed.ledger_seq}")
    pending = _Pending(services, allowed.at, allowed.request.account or allowed.request.grantee)
    position = pending.access(allowed.request, allowed.decision, allowed.route, payload_digest)
    if allowed.exhausted is not None:
        _exhaust(pending, allowed.exhausted)
    return pending.write(session)[position].seq


@dataclasses.dataclass(frozen=True, slots=True)
class AccessAsk:
    """One access to decide in an :class:`AccessBatch`."""

    principal: Principal
    subject: Subject
    scopes: frozenset[str]
    purpose: Purpose | str
    mode: AccessMode | str
    route: str


@dataclasses.dataclass(slots=True)
class Outcome:
    """An :class:`AccessAsk` decided: ``allowed`` (its use counted) or refused (its refusal queued for the
    ledger). ``ledger_seq`` is known once the batch is written."""

    ask: AccessAsk
    request: AccessRequest
    decision: Decision
    at: dt.datetime
    disclosed: bool = False
    payload_digest: str | None = None
    ledger_seq: int | None = None

    @property
    def permitted(self) -> bool:
        return isinstance(self.decision, Decided)

    @property
    def allowed(self) -> Allowed | None:
        if not isinstance(self.decision, Decided):
            return None
        return Allowed(
            self.decision, self.request, self.ask.subject.id, self.ask.route, self.at, self.ledger_seq
        )

    def refusal(self) -> ConsentRefused:
        assert isinstance(self.decision, Refused)
        return ConsentRefused(
            self.decision.message,
            reason=self.decision.reason.value,
            consent_id=self.decision.consent_id,
            ledger_seq=self.ledger_seq,
        )


class AccessBatch:
    """Many accesses — any callers, any subjects — decided and ledgered in the caller's one transaction.

    :meth:`decide` locks every candidate consent in one statement, then decides the asks in order against
    the states as earlier asks of the batch left them (two asks on one ONETIME consent: the first is
    allowed, the second refused as exhausted); :meth:`disclose` marks an allowed ask as disclosed with the
    digest of what was built for it; :meth:`write` counts the uses of the disclosed asks and appends every
    entry under one lock of the ledger head: expiry events, then per ask its refusal, or its disclosure
    followed by the exhaustion of the consent it spent. An allowed ask never disclosed counts no use and
    writes nothing, so the consents table and the log agree. Refusals are answers here, not exceptions:
    they commit with the batch, and nothing else is written for them.
    """

    def __init__(self, session: Session, services: Services, *, now: dt.datetime | None = None) -> None:
        self.session = session
        self.services = services
        self.now = now or utcnow()
        self._pending = _Pending(services, self.now, "platform")
        self._outcomes: list[Outcome] = []
        self._rows: dict[str, Consent] = {}
        # Each locked consent as stored (after lazy expiry): what :meth:`write` counts the disclosed uses on.
        self._stored: dict[str, ConsentState] = {}
        # ... and as the asks decided so far would leave it: what the next ask is decided against.
        self._decided: dict[str, ConsentState] = {}

    def decide(self, asks: Sequence[AccessAsk]) -> list[Outcome | InvalidInput]:
        services, now = self.services, self.now
        requests: list[AccessRequest | InvalidInput] = []
        for ask in asks:
            try:
                requests.append(
                    build_request(
                        services,
                        ask.principal,
                        library_subject(services.keyring, ask.subject),
                        ask.scopes,
                        ask.purpose,
                        ask.mode,
                    )
                )
            except InvalidInput as exc:
                requests.append(exc)
        pairs = [
            (r.grantee, a.subject.id)
            for a, r in zip(asks, requests, strict=True)
            if isinstance(r, AccessRequest) and not r.grantee_is_credit_authority
        ]
        candidates = _candidates_of(self.session, pairs, lock=True)
        fresh = {row.id: row for rs in candidates.values() for row in rs if row.id not in self._rows}
        self._rows.update(fresh)
        self._stored.update({cid: state_of(services.keyring, row) for cid, row in fresh.items()})
        expire_if_due(services.keyring, fresh.values(), self._stored, self._pending, now)
        self._decided.update({cid: self._stored[cid] for cid in fresh})
        out: list[Outcome | InvalidInput] = []
        for ask, request in zip(asks, requests, strict=True):
            if not isinstance(request, AccessRequest):
                out.append(request)
                continue
            mine = (
                []
                if request.grantee_is_credit_authority
                else candidates.get((request.grantee, ask.subject.id), [])
            )
            decision = decide([self._decided[r.id] for r in mine], request, now)
            outcome = Outcome(ask, request, decision, now)
            if isinstance(decision, Decided) and decision.consent_id is not None:
                cid = decision.consent_id
                self._decided[cid] = _recorded_use(self._decided[cid], now)
            self._outcomes.append(outcome)
            out.append(outcome)
        return out

    def disclose(self, outcome: Outcome, payload_digest: str | None) -> None:
        """Mark an allowed ask as disclosed, with the digest of the payload built for it."""
        if not outcome.permitted or outcome.disclosed:
            raise Conflict("only an allowed access not yet disclosed can be disclosed")
        outcome.disclosed, outcome.payload_digest = True, payload_digest

    def write(self) -> None:
        """Count the disclosed uses and append the batch's entries (see the class docstring).

        A use that ends the consent goes through its row (the end listeners run in this transaction); the
        others are written in one bulk update — an ORM flush of each row cost more than the rest of the gate.
        """
        keyring, now = self.services.keyring, self.now
        positions: list[tuple[Outcome, int]] = []
        used: dict[str, ConsentState] = {}
        for o in self._outcomes:
            if o.permitted and not o.disclosed:
                continue
            digest = o.payload_digest if o.disclosed else None
            positions.append((o, self._pending.access(o.request, o.decision, o.ask.route, digest)))
            cid = o.decision.consent_id if o.permitted else None
            if cid is None:
                continue
            state = used[cid] = _recorded_use(used.get(cid, self._stored[cid]), now)
            if state.status is ConsentStatus.EXHAUSTED:
                update_row(keyring, self._rows[cid], state, artefact_changed=False)
                _exhaust(self._pending, state)
        update_rows(
            self.session,
            _CONSENTS,
            "id",
            [
                {
                    "id": cid,
                    "use_count": st.use_count,
                    "last_used_at": st.last_used_at,
                    "period_key": st.period_key,
                    "period_uses": st.period_uses,
                }
                for cid, st in used.items()
                if st.status is not ConsentStatus.EXHAUSTED
            ],
        )
        entries = self._pending.write(self.session)
        for outcome, position in positions:
            outcome.ledger_seq = entries[position].seq
        # A further decide() and write() on this batch continue from what was written.
        self._stored.update(used)
        self._decided = dict(self._stored)
        self._outcomes.clear()
        self._pending = _Pending(self.services, now, "platform")


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
    scope_set = frozenset(scopes)
    batch = AccessBatch(session, services, now=now)
    asks = [
        AccessAsk(principal, _resolve(session, services, s), scope_set, purpose, mode, route)
        for s in subjects
    ]
    outcomes = batch.decide(asks)
    decided: list[Outcome] = []
    for o in outcomes:
        if isinstance(o, InvalidInput):
            raise o
        if o.permitted:
            batch.disclose(o, None)
        decided.append(o)
    batch.write()
    return [SubjectDecision(o.ask.subject.id, o.decision, o.ledger_seq) for o in decided]


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
