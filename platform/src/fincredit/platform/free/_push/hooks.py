"""What feeds the outbox: records loaded by ingestion, consents that end, objection notices."""

from __future__ import annotations

import json
import threading

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from fincredit.platform.consents import on_consent_ended
from fincredit.platform.consents.tables import Consent
from fincredit.platform.core.db import utcnow
from fincredit.platform.free._catalog import catalog_items
from fincredit.platform.free._push.outbox import active_subscriptions, covers, enqueue
from fincredit.platform.free._push.subscriptions import end_subscription
from fincredit.platform.free.tables import PushSubscription
from fincredit.platform.ingestion import on_records_loaded
from fincredit.platform.ingestion.tables import CreditRecord
from fincredit.platform.objections import add_recipients_resolver
from fincredit.platform.objections.tables import Objection, ObjectionOutbox


def _on_loaded(session: Session, submission_id: int) -> None:
    records = list(
        session.scalars(
            select(CreditRecord).where(CreditRecord.submission_id == submission_id).order_by(CreditRecord.id)
        )
    )
    subs = active_subscriptions(session, sorted({r.subject_id for r in records}))
    if not subs:
        return
    items = catalog_items(session)
    by_subject: dict[int, list[PushSubscription]] = {}
    for s in subs:
        by_subject.setdefault(s.subject_id, []).append(s)
    for r in records:
        item = items.get(r.item_code)
        names = [f.name for f in item.fields if not f.sensitive] if item else list(r.data)
        data = {
            "item": r.item_code,
            "record_id": r.id,
            "provider": r.provider_org_id,
            "provider_record_id": r.provider_record_id,
            "version": r.version,
            "event_date": r.event_date.isoformat() if r.event_date else None,
            "valid_until": r.valid_until.isoformat() if r.valid_until else None,
            "negative": r.negative,
            "fields": {n: r.data.get(n) for n in names},
        }
        for s in by_subject.get(r.subject_id, []):
            if covers(s, r.item_code):
                enqueue(session, s, "record_changed" if r.version > 1 else "record_new", data)


def _on_consent_ended(row: Consent) -> None:
    session = object_session(row)
    if session is None:
        return
    subs = session.scalars(
        select(PushSubscription).where(
            PushSubscription.consent_id == row.id, PushSubscription.status == "active"
        )
    )
    for sub in subs:
        end_subscription(session, sub, row.state.lower())


def _subscribed_orgs(session: Session, record_ids: list[int]) -> set[str]:
    """Objection outcomes also reach banks that watch the subject, not only those that queried it."""
    subjects = select(CreditRecord.subject_id).where(CreditRecord.id.in_(record_ids))
    return set(
        session.scalars(
            select(PushSubscription.org_id).where(
                PushSubscription.subject_id.in_(subjects), PushSubscription.status == "active"
            )
        )
    )


def pull_objection_outbox(session: Session, *, limit: int = 500) -> int:
    """Turn undelivered objection notifications addressed to a bank that watches the subject into push
    events of its subscription, and mark them delivered. Notifications for banks without a subscription
    stay in the objections outbox for other channels."""
    rows = session.execute(
        select(ObjectionOutbox, Objection, PushSubscription)
        .join(Objection, Objection.id == ObjectionOutbox.objection_id)
        .join(
            PushSubscription,
            (PushSubscription.org_id == ObjectionOutbox.recipient_org_id)
            & (PushSubscription.subject_id == Objection.subject_id)
            & (PushSubscription.status == "active"),
        )
        .where(ObjectionOutbox.delivered_at.is_(None))
        .order_by(ObjectionOutbox.id, PushSubscription.id)
        .limit(limit)
    ).all()
    made = 0
    now = utcnow()
    for outbox_row, objection, sub in rows:
        if covers(sub, objection.item_code):
            enqueue(session, sub, outbox_row.kind, json.loads(outbox_row.payload_json))
            made += 1
        outbox_row.delivered_at = now
    session.flush()
    return made


_installed = False
_install_lock = threading.Lock()


def install_hooks() -> None:
    """Register the push hooks once per process (ingestion, consent ending, objection recipients)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        on_records_loaded(_on_loaded)
        on_consent_ended(_on_consent_ended)
        add_recipients_resolver(_subscribed_orgs)
        _installed = True
