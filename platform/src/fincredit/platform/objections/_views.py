"""What callers see of an objection: the case with its running deadline, and its trail of steps."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from fincredit.platform.core.db import utcnow
from fincredit.platform.market import china_date
from fincredit.platform.objections._states import current_deadline
from fincredit.platform.objections.tables import Objection, ObjectionEvent


@dataclass(frozen=True, slots=True)
class EventView:
    objection_id: int
    seq: int
    at: dt.datetime
    step: str
    status: str
    actor_account_id: str | None
    actor_org_id: str | None
    note: str
    deadline: dt.date | None
    deadline_provisional: bool


@dataclass(frozen=True, slots=True)
class ObjectionView:
    id: int
    record_id: int
    subject_id: int
    provider_org_id: str
    item_code: str
    provider_record_id: str
    reason: str
    status: str
    filed_at: dt.datetime
    platform_due: dt.date
    provider_due: dt.date | None
    extension_days: int
    current_deadline: dt.date | None
    overdue: bool
    resolved_at: dt.datetime | None
    outcome_note: str | None
    corrected_record_id: int | None
    deadlines_provisional: bool
    events: tuple[EventView, ...] = ()


@dataclass(frozen=True, slots=True)
class ObjectionStatus:
    """What the query side shows next to a record: disputed, since when, until when at the latest."""

    record_id: int
    objection_id: int
    status: str
    filed_at: dt.datetime
    deadline: dt.date | None


def event_view(e: ObjectionEvent) -> EventView:
    return EventView(
        objection_id=e.objection_id,
        seq=e.seq,
        at=e.at,
        step=e.step,
        status=e.status,
        actor_account_id=e.actor_account_id,
        actor_org_id=e.actor_org_id,
        note=e.note,
        deadline=e.deadline,
        deadline_provisional=e.deadline_provisional,
    )


def view(
    session: Session, o: Objection, *, at: dt.datetime | None = None, events: bool = True
) -> ObjectionView:
    deadline = current_deadline(o)
    today = china_date(at or utcnow())
    trail: tuple[EventView, ...] = ()
    if events:
        rows = session.scalars(
            select(ObjectionEvent).where(ObjectionEvent.objection_id == o.id).order_by(ObjectionEvent.seq)
        )
        trail = tuple(event_view(e) for e in rows)
    return ObjectionView(
        id=o.id,
        record_id=o.record_id,
        subject_id=o.subject_id,
        provider_org_id=o.provider_org_id,
        item_code=o.item_code,
        provider_record_id=o.provider_record_id,
        reason=o.reason,
        status=o.status,
        filed_at=o.filed_at,
        platform_due=o.platform_due,
        provider_due=o.provider_due,
        extension_days=o.extension_days,
        current_deadline=deadline,
        overdue=deadline is not None and today > deadline,
        resolved_at=o.resolved_at,
        outcome_note=o.outcome_note,
        corrected_record_id=o.corrected_record_id,
        deadlines_provisional=o.deadlines_provisional,
        events=trail,
    )
