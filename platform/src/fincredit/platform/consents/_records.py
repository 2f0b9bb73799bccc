"""Consent rows to and from the library's immutable :class:`ConsentState`.

The artefact names the subject's full identifier, so it is stored AES-GCM encrypted, bound to the
consent id (a ciphertext moved to another row fails to decrypt). The terms the platform filters on are
copied into plain columns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, object_session

from fincredit.consent import ConsentArtefact, ConsentState, ConsentStatus, SubjectKind
from fincredit.consent import Subject as LibSubject
from fincredit.platform.consents.tables import Consent
from fincredit.platform.core.db import Subject
from fincredit.platform.core.keyring import Keyring


class ConsentWriteOutsideLifecycle(RuntimeError):
    """A consent row was changed other than by a lifecycle function. Every consent state change must be a
    ledger entry written in the same transaction; code that changes the row any other way is a bug."""


# Set on a row's instance state by ``update_row`` (the one writer); consumed at the next flush.
_LIFECYCLE = "fincredit.consent_lifecycle"


# The signed receipt is derived from the state, not part of it: storing it needs no ledger entry.
_DERIVED = frozenset({"receipt"})


@event.listens_for(Session, "before_flush")
def _only_lifecycle_writes(session: Session, flush_context: Any, instances: Any) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        if not isinstance(obj, Consent):
            continue
        state = inspect(obj)
        if state.info.pop(_LIFECYCLE, False) and obj not in session.deleted:
            continue
        if obj in session.dirty:
            changed = {a.key for a in state.attrs if a.history.has_changes()}
            if not changed - _DERIVED:
                continue
        raise ConsentWriteOutsideLifecycle(
            f"consent {obj.id} was changed outside the consent lifecycle functions (no ledger entry)"
        )


def _context(consent_id: str) -> str:
    return f"consent:artefact:{consent_id}"


def library_subject(keyring: Keyring, subject: Subject) -> LibSubject:
    kind = SubjectKind(subject.kind)
    return LibSubject(kind, keyring.decrypt(subject.code_enc, context=f"subject:{kind.value}"))


def artefact_of(keyring: Keyring, row: Consent) -> ConsentArtefact:
    return ConsentArtefact.model_validate_json(keyring.decrypt(row.artefact_enc, context=_context(row.id)))


def state_of(keyring: Keyring, row: Consent) -> ConsentState:
    return ConsentState(
        artefact=artefact_of(keyring, row),
        status=ConsentStatus(row.state),
        status_changed_at=row.state_changed_at,
        use_count=row.use_count,
        last_used_at=row.last_used_at,
        period_key=row.period_key,
        period_uses=row.period_uses,
    )


def _encrypt(keyring: Keyring, artefact: ConsentArtefact) -> bytes:
    return keyring.encrypt(artefact.model_dump_json(), context=_context(artefact.consent_id))


def row_values(keyring: Keyring, state: ConsentState, subject_id: int) -> dict[str, Any]:
    """Every column of a new consent row in ``state`` (what :func:`new_row` stores, as a Core insert's
    parameters: bulk grants insert many at once without an ORM object each)."""
    a = state.artefact
    return {
        "id": a.consent_id,
        "subject_id": subject_id,
        "grantee_org_id": a.grantee,
        "requested_by_account": a.requested_by_account,
        "purpose": a.purpose.value,
        "scopes": sorted(a.scopes),
        "modes": sorted(m.value for m in a.modes),
        "valid_from": a.valid_from,
        "valid_until": a.valid_until,
        "fetch_type": a.fetch_type.value,
        "frequency_value": None if a.frequency is None else a.frequency.value,
        "frequency_unit": None if a.frequency is None else a.frequency.unit.value,
        "data_life_value": a.data_life.value,
        "data_life_unit": a.data_life.unit.value,
        "artefact_enc": _encrypt(keyring, a),
        "created_at": a.created_at,
        "receipt": None,
        "state": state.status.value,
        "state_changed_at": state.status_changed_at,
        "use_count": state.use_count,
        "last_used_at": state.last_used_at,
        "period_key": state.period_key,
        "period_uses": state.period_uses,
    }


def new_row(keyring: Keyring, state: ConsentState, subject_id: int) -> Consent:
    row = Consent(**row_values(keyring, state, subject_id))
    inspect(row).info[_LIFECYCLE] = True
    return row


ENDED = frozenset({ConsentStatus.REVOKED, ConsentStatus.EXPIRED, ConsentStatus.EXHAUSTED})
_end_listeners: list[Callable[[Consent], None]] = []


def on_consent_ended(callback: Callable[[Consent], None]) -> Callable[[], None]:
    """Call ``callback(row)`` in the transaction that moves a stored consent to REVOKED, EXPIRED or
    EXHAUSTED (``object_session(row)`` is that transaction). Returns the unregister function."""
    _end_listeners.append(callback)
    return lambda: _end_listeners.remove(callback)


def update_row(keyring: Keyring, row: Consent, state: ConsentState, *, artefact_changed: bool) -> None:
    """Write a new state to its row; ``artefact_changed`` when the subject has just signed it."""
    ending = state.status in ENDED and row.state != state.status.value and object_session(row) is not None
    inspect(row).info[_LIFECYCLE] = True
    if artefact_changed:
        row.artefact_enc = _encrypt(keyring, state.artefact)
    row.state = state.status.value
    row.state_changed_at = state.status_changed_at
    row.use_count = state.use_count
    row.last_used_at = state.last_used_at
    row.period_key = state.period_key
    row.period_uses = state.period_uses
    if ending:
        for listener in list(_end_listeners):
            listener(row)
