"""Due dates, late and missing submissions (R§7) and overdue processing / verification (R§8)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from fincredit.platform.catalog import current_version, items_of
from fincredit.platform.core.db import utcnow
from fincredit.platform.core.errors import Conflict, InvalidInput, NotFound
from fincredit.platform.ingestion._pipeline import due_date, local_date, parse_month
from fincredit.platform.ingestion.tables import Submission


@dataclass(frozen=True, slots=True)
class MonthStatus:
    provider_org_id: str
    item_code: str
    month: str
    due_date: dt.date
    # on_time | late | nil | late_nil | missing (due date passed, nothing filed) | open (not yet due)
    status: str
    submission_ids: tuple[int, ...]


def months_between(first: str, last: str) -> list[str]:
    y, m = parse_month(first)
    ly, lm = parse_month(last)
    if (y, m) > (ly, lm):
        raise InvalidInput("the first month is after the last", field="from")
    out = []
    while (y, m) <= (ly, lm):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        if len(out) > 120:
            raise InvalidInput("ask for at most 120 months at a time", field="to")
    return out


def compliance(
    session: Session, *, first: str, last: str, today: dt.date, provider_org_id: str | None = None
) -> list[MonthStatus]:
    """Per provider, owned catalog item (current catalog) and month: filed on time, late, nil or missing."""
    months = months_between(first, last)
    items = [i for i in items_of(session, current_version(session))]
    if provider_org_id is not None:
        items = [i for i in items if i.provider_org_id == provider_org_id]
    q = select(Submission).where(Submission.month.in_(months))
    if provider_org_id is not None:
        q = q.where(Submission.provider_org_id == provider_org_id)
    filed: dict[tuple[str, str, str], list[Submission]] = {}
    for s in session.scalars(q):
        filed.setdefault((s.provider_org_id, s.item_code, s.month), []).append(s)
    out = []
    for item in items:
        for month in months:
            subs = sorted(
                filed.get((item.provider_org_id, item.code, month), []), key=lambda s: s.received_at
            )
            due = due_date(month)
            if subs:
                first_sub = subs[0]
                on_time = local_date(first_sub.received_at) <= due
                kind = "nil" if all(s.kind == "nil" for s in subs) else "file"
                status = (
                    ("nil" if on_time else "late_nil")
                    if kind == "nil"
                    else ("on_time" if on_time else "late")
                )
            else:
                status = "missing" if today > due else "open"
            out.append(
                MonthStatus(item.provider_org_id, item.code, month, due, status, tuple(s.id for s in subs))
            )
    return out


def overdue(session: Session, *, today: dt.date, provider_org_id: str | None = None) -> list[Submission]:
    """Submissions whose processing ran past its deadline, or whose feedback is not verified in time."""
    q = select(Submission).where(
        or_(
            Submission.processed_at.is_(None) & (Submission.processing_due < today),
            Submission.verified_at.is_(None)
            & Submission.verification_due.is_not(None)
            & (Submission.verification_due < today),
        )
    )
    if provider_org_id is not None:
        q = q.where(Submission.provider_org_id == provider_org_id)
    late_processing = select(Submission).where(Submission.processed_at.is_not(None))
    if provider_org_id is not None:
        late_processing = late_processing.where(Submission.provider_org_id == provider_org_id)
    found = {s.id: s for s in session.scalars(q)}
    for s in session.scalars(late_processing.where(Submission.kind == "file")):
        if s.processed_at is not None and local_date(s.processed_at) > s.processing_due:
            found[s.id] = s
    return sorted(found.values(), key=lambda s: s.id)


def record_verification(
    session: Session, *, provider_org_id: str, submission_id: int, note: str
) -> Submission:
    """R§8: the provider has checked the feedback report (within 5 working days of it)."""
    sub = session.get(Submission, submission_id)
    if sub is None or sub.provider_org_id != provider_org_id:
        raise NotFound(f"no submission {submission_id} of yours")
    if sub.verified_at is not None:
        raise Conflict(f"submission {submission_id} was verified already")
    sub.verified_at = utcnow()
    sub.verification_note = note
    session.flush()
    return sub
