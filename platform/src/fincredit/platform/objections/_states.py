"""The states an objection passes through (R§10), the steps that move it, and its running deadline.

    filed ──(platform checks within 3 working days)──▶ platform found its own processing wrong
      │                                                  └─▶ corrected (new record version)
      └─▶ platform's processing right: referred to the provider
            ──(provider answers within 10 working days; one extension of at most 15)──▶
            corrected (new record version) | confirmed

Working days follow the Chinese holiday calendar (``fincredit.platform.core.workdays``); a deadline is
counted from the Beijing calendar day of the step that starts it.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from fincredit.platform.core.errors import NotFound, ObjectionStateError
from fincredit.platform.objections.tables import Objection

PLATFORM_CHECK_DAYS = 3
PROVIDER_ANSWER_DAYS = 10
MAX_EXTENSION_DAYS = 15


class Status(StrEnum):
    PLATFORM_REVIEW = "platform_review"
    PROVIDER_REVIEW = "provider_review"
    CORRECTED = "corrected"
    CONFIRMED = "confirmed"


OPEN = (Status.PLATFORM_REVIEW.value, Status.PROVIDER_REVIEW.value)


class Step(StrEnum):
    FILED = "filed"
    PLATFORM_CORRECTED = "platform_corrected"
    REFERRED_TO_PROVIDER = "referred_to_provider"
    EXTENDED = "extended"
    PROVIDER_CORRECTED = "provider_corrected"
    PROVIDER_CONFIRMED = "provider_confirmed"
    DEADLINE_MISSED = "deadline_missed"


def current_deadline(o: Objection) -> dt.date | None:
    """The deadline of the stage the objection is in; none once it is resolved."""
    if o.status == Status.PLATFORM_REVIEW.value:
        return o.platform_due
    if o.status == Status.PROVIDER_REVIEW.value:
        return o.provider_due
    return None


def load(session: Session, objection_id: int, *, for_update: bool = True) -> Objection:
    """The objection row, locked on PostgreSQL when a step is about to change it."""
    q = select(Objection).where(Objection.id == objection_id)
    if for_update and session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    o = session.scalar(q)
    if o is None:
        raise NotFound(f"no objection {objection_id}")
    return o


def require_status(o: Objection, *statuses: Status) -> None:
    if o.status not in {s.value for s in statuses}:
        raise ObjectionStateError(
            f"objection {o.id} is {o.status}; this step needs {' or '.join(s.value for s in statuses)}",
            status_now=o.status,
        )
