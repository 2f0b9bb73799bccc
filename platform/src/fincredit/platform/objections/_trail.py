"""The append-only trail of an objection's steps and the notices its outcome sends.

Every step is appended to ``objection_events`` with the deadline then running; listeners hear of it
once its transaction has committed. While an objection is open the record carries ``under_objection``;
filing and the outcome notify every organisation the record was disclosed to (outbox rows for the push
mechanism), found through ``record_disclosures`` and any further recipients resolver.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from fincredit.platform.core.db import insert_rows, utcnow
from fincredit.platform.core.db.hooks import after_commit
from fincredit.platform.ingestion.tables import CreditRecord
from fincredit.platform.objections._states import Step, current_deadline
from fincredit.platform.objections._views import EventView, event_view
from fincredit.platform.objections.tables import Objection, ObjectionEvent, ObjectionOutbox, RecordDisclosure

_listeners: list[Callable[[EventView], None]] = []
RecipientsResolver = Callable[[Session, list[int]], set[str]]
_resolvers: list[RecipientsResolver] = []


def on_objection_event(callback: Callable[[EventView], None]) -> Callable[[], None]:
    """Call ``callback`` with every objection step once its transaction has committed (never for a
    rolled-back step). Returns a function that unregisters it."""
    _listeners.append(callback)
    return lambda: _listeners.remove(callback)


def add_recipients_resolver(resolver: RecipientsResolver) -> Callable[[], None]:
    """Another source of "which organisations received these records" (e.g. the query log), besides
    ``record_disclosures``. Returns a function that unregisters it."""
    _resolvers.append(resolver)
    return lambda: _resolvers.remove(resolver)


def note_disclosure(
    session: Session, record_ids: Iterable[int], org_id: str, *, purpose: str | None = None
) -> None:
    """The query side calls this when it shows records to an organisation, so objection outcomes reach it."""
    note_disclosures(session, [(record_id, org_id, purpose) for record_id in record_ids])


def note_disclosures(session: Session, shown: Iterable[tuple[int, str, str | None]]) -> None:
    """:func:`note_disclosure` for many (record id, organisation, purpose) at once: one insert."""
    now = utcnow()
    rows = [{"record_id": r, "org_id": o, "purpose": p, "disclosed_at": now} for r, o, p in shown]
    insert_rows(session, cast(Table, RecordDisclosure.__table__), rows)


def append_step(
    session: Session,
    o: Objection,
    step: Step,
    at: dt.datetime,
    *,
    actor_account_id: str | None,
    actor_org_id: str | None,
    note: str = "",
    provisional: bool = False,
) -> ObjectionEvent:
    seq = (
        session.scalar(select(func.max(ObjectionEvent.seq)).where(ObjectionEvent.objection_id == o.id)) or 0
    ) + 1
    event = ObjectionEvent(
        objection_id=o.id,
        seq=seq,
        at=at,
        step=step.value,
        status=o.status,
        actor_account_id=actor_account_id,
        actor_org_id=actor_org_id,
        note=note,
        deadline=current_deadline(o),
        deadline_provisional=provisional,
    )
    session.add(event)
    session.flush()
    snapshot = event_view(event)
    for listener in list(_listeners):
        after_commit(session, lambda listener=listener: listener(snapshot))  # type: ignore[misc]
    return event


def _recipients(session: Session, record_ids: list[int]) -> set[str]:
    found = set(
        session.scalars(select(RecordDisclosure.org_id).where(RecordDisclosure.record_id.in_(record_ids)))
    )
    for resolver in list(_resolvers):
        found |= resolver(session, record_ids)
    return found


def record_versions(session: Session, o: Objection) -> list[int]:
    """Every version of the disputed record: a bank that saw an older version still needs the outcome."""
    return list(
        session.scalars(
            select(CreditRecord.id).where(
                CreditRecord.provider_org_id == o.provider_org_id,
                CreditRecord.item_code == o.item_code,
                CreditRecord.provider_record_id == o.provider_record_id,
            )
        )
    )


def notify(session: Session, o: Objection, event: ObjectionEvent, kind: str, extra: Mapping[str, Any]) -> int:
    """One outbox row per organisation that received any version of the record; returns how many."""
    recipients = sorted(_recipients(session, record_versions(session, o)))
    payload = {
        "type": kind,
        "objection_id": o.id,
        "record_id": o.record_id,
        "item_code": o.item_code,
        "provider_org_id": o.provider_org_id,
        "provider_record_id": o.provider_record_id,
        "status": o.status,
        "at": event.at.isoformat(),
        **extra,
    }
    for org_id in recipients:
        session.add(
            ObjectionOutbox(
                objection_id=o.id,
                event_id=event.id,
                recipient_org_id=org_id,
                kind=kind,
                payload_json=json.dumps(payload, ensure_ascii=False, sort_keys=True),
                created_at=event.at,
            )
        )
    session.flush()
    return len(recipients)


def outbox(
    session: Session, *, recipient_org_id: str | None = None, undelivered: bool = True
) -> list[ObjectionOutbox]:
    q = select(ObjectionOutbox).order_by(ObjectionOutbox.id)
    if recipient_org_id is not None:
        q = q.where(ObjectionOutbox.recipient_org_id == recipient_org_id)
    if undelivered:
        q = q.where(ObjectionOutbox.delivered_at.is_(None))
    return list(session.scalars(q))
