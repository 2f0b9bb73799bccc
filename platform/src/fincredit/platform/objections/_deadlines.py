"""Deadlines that passed: the overdue list, and the daily ``deadline_missed`` step in the trail."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from fincredit.platform.core.db import utcnow
from fincredit.platform.objections._queries import list_objections
from fincredit.platform.objections._states import Status, Step, current_deadline, load
from fincredit.platform.objections._trail import append_step
from fincredit.platform.objections._views import ObjectionView, view
from fincredit.platform.objections.tables import ObjectionEvent


def overdue_objections(session: Session, at: dt.datetime | None = None) -> list[ObjectionView]:
    """Open objections whose running deadline (platform check or provider answer) has passed."""
    return list_objections(session, overdue_only=True, at=at)


def record_missed_deadlines(session: Session, at: dt.datetime | None = None) -> list[ObjectionView]:
    """Append a ``deadline_missed`` step to every open objection whose running deadline has passed
    (once per deadline: an extension or the next stage gives a new one). Run it daily; the regulator
    then sees in the trail when each deadline was missed, not only that it is overdue now."""
    at = at or utcnow()
    marked = []
    for late in overdue_objections(session, at):
        o = load(session, late.id)
        already = session.scalar(
            select(ObjectionEvent.id).where(
                ObjectionEvent.objection_id == o.id,
                ObjectionEvent.step == Step.DEADLINE_MISSED.value,
                ObjectionEvent.deadline == current_deadline(o),
            )
        )
        if already is not None:
            continue
        who = "the platform's check" if o.status == Status.PLATFORM_REVIEW.value else "the provider's answer"
        append_step(
            session,
            o,
            Step.DEADLINE_MISSED,
            at,
            actor_account_id=None,
            actor_org_id=None,
            note=f"{who} was due on {current_deadline(o)}",
        )
        marked.append(view(session, o, at=at))
    return marked
