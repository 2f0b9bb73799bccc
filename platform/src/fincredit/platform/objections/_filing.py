"""A subject files an objection to one of its records: the record is marked disputed and the platform's
check deadline starts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from fincredit.platform.core.db import utcnow
from fincredit.platform.core.errors import InvalidInput, NotFound, ObjectionStateError
from fincredit.platform.core.workdays import add_workdays
from fincredit.platform.ingestion.tables import CreditRecord
from fincredit.platform.market import china_date
from fincredit.platform.objections._states import OPEN, PLATFORM_CHECK_DAYS, Status, Step
from fincredit.platform.objections._trail import append_step, notify
from fincredit.platform.objections._views import ObjectionView, view
from fincredit.platform.objections.tables import Objection


def file_objection(
    session: Session,
    *,
    subject_id: int,
    record_id: int,
    reason: str,
    filed_by: str,
    at: dt.datetime | None = None,
) -> ObjectionView:
    """A subject objects to one of its records (the current version). One open objection per record."""
    at = at or utcnow()
    if not reason.strip():
        raise InvalidInput("say what is wrong with the record", field="reason")
    q = select(CreditRecord).where(CreditRecord.id == record_id)
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()  # two filings for one record queue here; the second sees the first
    record = session.scalar(q)
    if record is None or record.subject_id != subject_id:
        # Never confirm that someone else's record exists.
        raise NotFound(f"no record {record_id} of this subject")
    if not record.current:
        raise ObjectionStateError(f"record {record_id} has been superseded; object to its current version")
    open_one = session.scalar(
        select(Objection.id).where(
            Objection.provider_org_id == record.provider_org_id,
            Objection.item_code == record.item_code,
            Objection.provider_record_id == record.provider_record_id,
            Objection.status.in_(OPEN),
        )
    )
    if open_one is not None:
        raise ObjectionStateError(
            f"record {record_id} already has an open objection ({open_one})", objection=open_one
        )
    due = add_workdays(china_date(at), PLATFORM_CHECK_DAYS)
    o = Objection(
        record_id=record.id,
        subject_id=subject_id,
        provider_org_id=record.provider_org_id,
        item_code=record.item_code,
        provider_record_id=record.provider_record_id,
        filed_by=filed_by,
        reason=reason.strip(),
        status=Status.PLATFORM_REVIEW.value,
        filed_at=at,
        platform_due=due.due,
        provider_due=None,
        extension_days=0,
        deadlines_provisional=due.provisional,
    )
    session.add(o)
    record.under_objection = True
    session.flush()
    event = append_step(
        session,
        o,
        Step.FILED,
        at,
        actor_account_id=filed_by,
        actor_org_id=None,
        note=o.reason,
        provisional=due.provisional,
    )
    notify(session, o, event, "record_under_objection", {"platform_due": due.due.isoformat()})
    return view(session, o, at=at)
