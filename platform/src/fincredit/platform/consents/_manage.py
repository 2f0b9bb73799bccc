"""Consents over their life: a bank requests, the borrower approves / rejects / pauses / resumes /
revokes (each one call), the platform expires them; every change is ledgered in its own transaction,
and the borrower can download a signed ISO/IEC TS 27560 receipt."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from fincredit.consent import (
    EVENT_ENTRY,
    ApprovalChannel,
    ConsentArtefact,
    ConsentDomainError,
    ConsentEvent,
    ConsentState,
    ConsentStatus,
    EntryType,
    IllegalTransitionError,
    InvalidConsentError,
    NoteVerifier,
    SubjectAct,
    build_receipt,
    sign_receipt,
)
from fincredit.platform.consents._access import _Pending, expire_if_due
from fincredit.platform.consents._ledger import note_signer
from fincredit.platform.consents._records import (
    artefact_of,
    library_subject,
    new_row,
    row_values,
    state_of,
    update_row,
)
from fincredit.platform.consents.tables import Consent
from fincredit.platform.core.db import Organisation, Subject, utcnow
from fincredit.platform.core.errors import IllegalConsentTransition, InvalidInput, NotFound
from fincredit.platform.core.services import Services
from fincredit.platform.identity.principal import Principal
from fincredit.platform.subjects import find_subject

ACTIONS: dict[str, ConsentEvent] = {
    "approve": ConsentEvent.GRANT,
    "reject": ConsentEvent.REJECT,
    "pause": ConsentEvent.PAUSE,
    "resume": ConsentEvent.RESUME,
    "revoke": ConsentEvent.REVOKE,
}
CONTROLLER_ID = "fincredit-platform"
CONTROLLER_NAME = "宁波市融资信用服务平台"


def request_consent(
    session: Session, services: Services, *, principal: Principal, identifier: str, terms: dict[str, Any]
) -> Consent:
    """A bank asks the subject for a consent: PENDING until the subject answers. ``terms`` are the
    artefact's fields (purpose, scopes, modes, validity, fetch type, frequency, data life, ...)."""
    if principal.org_id is None:
        raise InvalidInput("only an organisation can be the grantee of a consent")
    subject = find_subject(session, services.keyring, identifier)
    now = utcnow()
    terms = {"valid_from": now, **{k: v for k, v in terms.items() if v is not None}}
    try:
        artefact = ConsentArtefact(
            subject=library_subject(services.keyring, subject),
            grantee=principal.org_id,
            requested_by_account=principal.account_id,
            created_at=now,
            **terms,
        )
        state = ConsentState.requested(artefact)
    except (ValidationError, InvalidConsentError) as exc:
        raise InvalidInput(f"not a valid consent request: {_reason(exc)}") from None
    row = new_row(services.keyring, state, subject.id)
    session.add(row)
    session.flush()
    pending = _Pending(services, now, principal.account_id)
    pending.consent_event(state, EntryType.CONSENT_REQUESTED)
    pending.write(session)
    return row


@dataclass(frozen=True)
class RecordedGrant:
    """A consent the subject gave outside the platform's pages (at a bank's counter, on paper, in a
    migration from an earlier system, or in a seeded demo city), recorded with who took the subject's act
    and through which channel."""

    subject_id: int
    artefact: ConsentArtefact
    # None: the request is recorded and still waits for the subject's answer.
    approved_by_account: str | None
    approved_at: dt.datetime
    channel: str
    # Acts of the subject after the grant, recorded with it (a history brought over from an earlier
    # system, a seeded city): each a transition of the lifecycle (pause, resume, revoke ...) with its
    # own ledger entry after the grant's.
    then: tuple[tuple[ConsentEvent, dt.datetime], ...] = ()


def record_grants(
    session: Session, services: Services, grants: Sequence[RecordedGrant], *, actor: str
) -> None:
    """Store each consent as requested and then granted, with both ledger entries, in the session's
    transaction: one ledger append for the whole batch. The same two entries as a bank's request and the
    subject's approval on the web, so the log alone shows every consent's grant; then an entry for each of
    the grant's later acts (``RecordedGrant.then``), applied by the lifecycle.

    The rows go in as one Core insert (no ORM object each), so a seeding of a million consents runs at the
    speed of the ledger append and the artefacts' encryption; call it with batches of thousands."""
    if not grants:
        return
    now = utcnow()
    keyring = services.keyring
    pending = _Pending(services, now, actor)
    rows: list[dict[str, Any]] = []
    for grant in grants:
        state = ConsentState.requested(grant.artefact)
        requester = grant.artefact.requested_by_account or actor
        pending.consent_event(state, EntryType.CONSENT_REQUESTED, actor=requester)
        if grant.approved_by_account is not None:
            act = SubjectAct(
                approved_by_account=grant.approved_by_account,
                approved_at=grant.approved_at,
                channel=grant.channel,
            )
            state = state.grant(act, grant.approved_at)
            pending.consent_event(state, EVENT_ENTRY[ConsentEvent.GRANT], actor=grant.approved_by_account)
            for event, at in grant.then:
                if event is ConsentEvent.GRANT:
                    raise InvalidInput("a consent is granted once")
                try:
                    state = state.apply(event, at)
                except (IllegalTransitionError, ConsentDomainError) as exc:
                    raise IllegalConsentTransition(
                        str(exc), state=state.status.value, action=event.value
                    ) from None
                pending.consent_event(state, EVENT_ENTRY[event], actor=grant.approved_by_account)
        elif grant.then:
            raise InvalidInput("acts after a grant need the grant")
        rows.append(row_values(keyring, state, grant.subject_id))
    # The lifecycle's own writer: the rows and their entries in this one transaction.
    session.execute(cast(Table, Consent.__table__).insert(), rows)
    pending.write(session)


def record_event(
    session: Session, services: Services, *, consent_id: str, event: ConsentEvent, actor: str
) -> Consent:
    """A transition the subject made outside the platform's pages (a pause, resumption or revocation at
    a counter), or that ``actor`` makes on the platform's side: the row and its ledger entry together."""
    if event is ConsentEvent.GRANT:
        raise InvalidInput("a grant carries the subject's evidence: record it with record_grants")
    row = session.scalar(select(Consent).where(Consent.id == consent_id).with_for_update())
    if row is None:
        raise NotFound(f"no consent {consent_id}")
    now = utcnow()
    pending = _Pending(services, now, actor)
    states = {row.id: state_of(services.keyring, row)}
    expire_if_due(services.keyring, [row], states, pending, now)
    try:
        new = states[row.id].apply(event, now)
    except (IllegalTransitionError, ConsentDomainError) as exc:
        raise IllegalConsentTransition(
            str(exc), state=states[row.id].status.value, action=event.value
        ) from None
    update_row(services.keyring, row, new, artefact_changed=False)
    pending.consent_event(new, EVENT_ENTRY[event])
    pending.write(session)
    return row


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first.get('msg', '')}" if where else str(first.get("msg", ""))
    return str(exc)


def _own(session: Session, principal: Principal, consent_id: str, *, lock: bool) -> Consent:
    q = select(Consent).where(Consent.id == consent_id)
    if lock:
        q = q.with_for_update()
    row = session.scalar(q)
    # Another subject's consent is "not found": its existence is none of this borrower's business.
    if row is None or principal.subject_id is None or row.subject_id != principal.subject_id:
        raise NotFound(f"you have no consent {consent_id}")
    return row


def get_own_consent(session: Session, principal: Principal, consent_id: str) -> Consent:
    return _own(session, principal, consent_id, lock=False)


def get_held_consent(session: Session, principal: Principal, consent_id: str) -> Consent:
    row = session.get(Consent, consent_id)
    if row is None or row.grantee_org_id != principal.org_id:
        raise NotFound(f"your organisation holds no consent {consent_id}")
    return row


def act_on_consent(
    session: Session, services: Services, *, principal: Principal, consent_id: str, action: str
) -> Consent:
    """The borrower's decision on one of their consents; illegal transitions raise 409."""
    event = ACTIONS.get(action)
    if event is None:
        raise InvalidInput(f"unknown action {action!r}; one of {sorted(ACTIONS)}")
    row = _own(session, principal, consent_id, lock=True)
    now = utcnow()
    pending = _Pending(services, now, principal.account_id)
    state = state_of(services.keyring, row)
    states = {row.id: state}
    expire_if_due(services.keyring, [row], states, pending, now)
    state = states[row.id]
    try:
        if event is ConsentEvent.GRANT:
            evidence = SubjectAct(
                approved_by_account=principal.account_id,
                approved_at=now,
                channel=ApprovalChannel.WEB.value,
                authentication="platform borrower session (password, argon2)",
            )
            new = state.grant(evidence, now)
        else:
            new = state.apply(event, now)
    except IllegalTransitionError as exc:
        # A lazy expiry found here rolls back with the failed action; the next touch or sweep records it.
        raise IllegalConsentTransition(str(exc), state=exc.status, action=action) from None
    except ConsentDomainError as exc:
        raise IllegalConsentTransition(str(exc), state=state.status.value, action=action) from None
    update_row(services.keyring, row, new, artefact_changed=event is ConsentEvent.GRANT)
    pending.consent_event(new, EVENT_ENTRY[event])
    pending.write(session)
    row.receipt = issue_receipt(session, services, row, new)[1]
    return row


def issue_receipt(
    session: Session, services: Services, row: Consent, state: ConsentState | None = None
) -> tuple[dict[str, Any], str]:
    """The ISO/IEC TS 27560 receipt of the consent as it stands, and its compact JWS (EdDSA)."""
    state = state or state_of(services.keyring, row)
    org = session.get(Organisation, row.grantee_org_id)
    base = services.settings.base_url
    receipt = build_receipt(
        state,
        controller_id=CONTROLLER_ID,
        controller_name=CONTROLLER_NAME,
        controller_contact=f"{base}/privacy",
        notice_url=f"{base}/privacy/notice",
        notice_version="1",
        issued_at=utcnow(),
        grantee_name=org.name if org else "",
    )
    return receipt, sign_receipt(receipt, services.keyring.signing_key, receipt_kid(services))


def receipt_kid(services: Services) -> str:
    verifier: NoteVerifier = note_signer(services).verifier
    return verifier.vkey()


def expire_due(services: Services, *, now: dt.datetime | None = None, batch: int = 500) -> int:
    """The periodic sweep: every ACTIVE or PAUSED consent past its end becomes EXPIRED, ledgered."""
    now = now or utcnow()
    total = 0
    while True:
        with services.tx() as session:
            rows = list(
                session.scalars(
                    select(Consent)
                    .where(
                        Consent.state.in_([ConsentStatus.ACTIVE.value, ConsentStatus.PAUSED.value]),
                        Consent.valid_until <= now,
                    )
                    .order_by(Consent.id)
                    .limit(batch)
                    .with_for_update()
                )
            )
            if not rows:
                return total
            pending = _Pending(services, now, "platform")
            states = {r.id: state_of(services.keyring, r) for r in rows}
            expire_if_due(services.keyring, rows, states, pending, now)
            pending.write(session)
            total += len(rows)


def consent_view(services: Services, row: Consent, subject: Subject | None = None) -> dict[str, Any]:
    """The consent as the API shows it: terms, state and use; the subject masked."""
    artefact = artefact_of(services.keyring, row)
    ev = artefact.evidence
    return {
        "id": row.id,
        "subject": artefact.subject.masked,
        "subject_kind": artefact.subject.kind.value,
        "grantee": row.grantee_org_id,
        "requested_by_account": row.requested_by_account,
        "purpose": row.purpose,
        "purpose_text": artefact.purpose_text,
        "scopes": list(row.scopes),
        "modes": list(row.modes),
        "valid_from": row.valid_from,
        "valid_until": row.valid_until,
        "fetch_type": row.fetch_type,
        "frequency": None
        if row.frequency_value is None
        else {"value": row.frequency_value, "unit": row.frequency_unit},
        "data_life": {"value": row.data_life_value, "unit": row.data_life_unit},
        "sensitive": artefact.sensitive,
        "state": row.state,
        "state_changed_at": row.state_changed_at,
        "use_count": row.use_count,
        "last_used_at": row.last_used_at,
        "created_at": row.created_at,
        "approved_by_account": ev.approved_by_account if ev else None,
        "approved_at": ev.approved_at if ev else None,
    }
