"""Reading objections: one case, lists for subjects, providers and the regulator, and the disputed
status the query side shows next to each record."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Protocol

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from fincredit.platform.core.db import utcnow
from fincredit.platform.ingestion.tables import CreditRecord
from fincredit.platform.market import china_date
from fincredit.platform.objections._states import OPEN, Status, current_deadline, load
from fincredit.platform.objections._views import ObjectionStatus, ObjectionView, view
from fincredit.platform.objections.tables import Objection


class _RecordKey(Protocol):
    id: int
    subject_id: int
    provider_org_id: str
    item_code: str
    provider_record_id: str


def objection_status(session: Session, record_ids: Iterable[int]) -> dict[int, ObjectionStatus]:
    """For the query side: which of ``record_ids`` are under an open objection (any version of the same
    provider record counts), with the deadline then running. Records not in the result are undisputed."""
    ids = sorted(set(record_ids))
    if not ids:
        return {}
    keyed = session.execute(
        select(
            CreditRecord.id,
            CreditRecord.subject_id,
            CreditRecord.provider_org_id,
            CreditRecord.item_code,
            CreditRecord.provider_record_id,
        ).where(CreditRecord.id.in_(ids))
    ).all()
    return objection_status_of(session, keyed)


_OPEN_OF_SUBJECTS = select(Objection).where(
    Objection.status.in_(OPEN), Objection.subject_id.in_(bindparam("subjects", expanding=True))
)


def objection_status_of(session: Session, records: Sequence[_RecordKey]) -> dict[int, ObjectionStatus]:
    """:func:`objection_status` of records already loaded: one lookup of the open objections of their
    subjects (a stable statement, whatever the number of records), matched by provider record."""
    if not records:
        return {}
    by_key = {(r.provider_org_id, r.item_code, r.provider_record_id): r.id for r in records}
    subjects = sorted({r.subject_id for r in records})
    out: dict[int, ObjectionStatus] = {}
    rows = session.scalars(_OPEN_OF_SUBJECTS, {"subjects": subjects})
    for o in rows:
        rid = by_key.get((o.provider_org_id, o.item_code, o.provider_record_id))
        if rid is not None:
            out[rid] = ObjectionStatus(rid, o.id, o.status, o.filed_at, current_deadline(o))
    return out


def get_objection(session: Session, objection_id: int, *, at: dt.datetime | None = None) -> ObjectionView:
    return view(session, load(session, objection_id, for_update=False), at=at)


def list_objections(
    session: Session,
    *,
    subject_id: int | None = None,
    provider_org_id: str | None = None,
    status: str | None = None,
    open_only: bool = False,
    overdue_only: bool = False,
    at: dt.datetime | None = None,
    limit: int = 500,
) -> list[ObjectionView]:
    at = at or utcnow()
    q = select(Objection).order_by(Objection.filed_at.desc(), Objection.id.desc()).limit(limit)
    if subject_id is not None:
        q = q.where(Objection.subject_id == subject_id)
    if provider_org_id is not None:
        q = q.where(Objection.provider_org_id == provider_org_id)
    if status is not None:
        q = q.where(Objection.status == status)
    if open_only or overdue_only:
        q = q.where(Objection.status.in_(OPEN))
    if overdue_only:
        today = china_date(at)
        q = q.where(
            or_(
                (Objection.status == Status.PLATFORM_REVIEW.value) & (Objection.platform_due < today),
                (Objection.status == Status.PROVIDER_REVIEW.value) & (Objection.provider_due < today),
            )
        )
    return [view(session, o, at=at, events=False) for o in session.scalars(q)]
