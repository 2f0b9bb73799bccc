"""Reviewing an objection: the platform checks its own processing, then the provider answers (once
extendable); the outcome corrects the record or confirms it, clears ``under_objection`` and notifies
the banks that received the record."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from fincredit.platform.core.db import utcnow
from fincredit.platform.core.errors import Forbidden, InvalidInput, ObjectionStateError
from fincredit.platform.core.keyring import Keyring
from fincredit.platform.core.workdays import add_workdays
from fincredit.platform.ingestion.tables import CreditRecord
from fincredit.platform.market import china_date
from fincredit.platform.objections._correction import correct_record
from fincredit.platform.objections._states import (
    MAX_EXTENSION_DAYS,
    PROVIDER_ANSWER_DAYS,
    Status,
    Step,
    load,
    require_status,
)
from fincredit.platform.objections._trail import append_step, notify, record_versions
from fincredit.platform.objections._views import ObjectionView, view
from fincredit.platform.objections.tables import Objection


def platform_check(
    session: Session,
    objection_id: int,
    *,
    processing_correct: bool,
    note: str,
    actor_account_id: str,
    actor_org_id: str | None,
    corrected_data: Mapping[str, Any] | None = None,
    at: dt.datetime | None = None,
    keyring: Keyring | None = None,
) -> ObjectionView:
    """The platform checks its own processing (cleaning, matching, loading). Right → the provider must
    answer; wrong → the platform corrects the record itself (``corrected_data``) and the case closes."""
    at = at or utcnow()
    o = load(session, objection_id)
    require_status(o, Status.PLATFORM_REVIEW)
    o.platform_checked_at = at
    if processing_correct:
        due = add_workdays(china_date(at), PROVIDER_ANSWER_DAYS)
        o.status = Status.PROVIDER_REVIEW.value
        o.provider_due = due.due
        o.deadlines_provisional = o.deadlines_provisional or due.provisional
        session.flush()
        append_step(
            session,
            o,
            Step.REFERRED_TO_PROVIDER,
            at,
            actor_account_id=actor_account_id,
            actor_org_id=actor_org_id,
            note=note,
            provisional=due.provisional,
        )
        return view(session, o, at=at)
    if corrected_data is None:
        raise InvalidInput("the platform's processing was wrong: give the corrected record data")
    _resolve(
        session,
        o,
        Status.CORRECTED,
        Step.PLATFORM_CORRECTED,
        at,
        actor_account_id,
        actor_org_id,
        note,
        corrected_data,
        keyring,
    )
    return view(session, o, at=at)


def extend_provider_deadline(
    session: Session,
    objection_id: int,
    *,
    days: int,
    reason: str,
    actor_account_id: str,
    actor_org_id: str,
    at: dt.datetime | None = None,
) -> ObjectionView:
    """The provider extends its answer deadline: once, by at most 15 working days, before it passes."""
    at = at or utcnow()
    o = load(session, objection_id)
    _check_provider(o, actor_org_id)
    require_status(o, Status.PROVIDER_REVIEW)
    if o.extension_days:
        raise ObjectionStateError(
            f"objection {o.id}: the deadline was already extended once (by {o.extension_days} working days)"
        )
    if not 1 <= days <= MAX_EXTENSION_DAYS:
        raise InvalidInput(f"an extension is 1 to {MAX_EXTENSION_DAYS} working days", field="days")
    if not reason.strip():
        raise InvalidInput("an extension needs a reason", field="reason")
    assert o.provider_due is not None
    if china_date(at) > o.provider_due:
        raise ObjectionStateError(f"objection {o.id}: the deadline {o.provider_due.isoformat()} has passed")
    due = add_workdays(o.provider_due, days)
    o.provider_due = due.due
    o.extension_days = days
    o.deadlines_provisional = o.deadlines_provisional or due.provisional
    session.flush()
    append_step(
        session,
        o,
        Step.EXTENDED,
        at,
        actor_account_id=actor_account_id,
        actor_org_id=actor_org_id,
        note=f"+{days} working days: {reason.strip()}",
        provisional=due.provisional,
    )
    return view(session, o, at=at)


def provider_answer(
    session: Session,
    objection_id: int,
    *,
    correct: bool,
    note: str,
    actor_account_id: str,
    actor_org_id: str,
    corrected_data: Mapping[str, Any] | None = None,
    at: dt.datetime | None = None,
    keyring: Keyring | None = None,
) -> ObjectionView:
    """The provider's answer: the record is wrong (a corrected version replaces it) or it stands."""
    at = at or utcnow()
    o = load(session, objection_id)
    _check_provider(o, actor_org_id)
    require_status(o, Status.PROVIDER_REVIEW)
    if correct:
        if corrected_data is None:
            raise InvalidInput("a correction needs the corrected record data", field="corrected_data")
        _resolve(
            session,
            o,
            Status.CORRECTED,
            Step.PROVIDER_CORRECTED,
            at,
            actor_account_id,
            actor_org_id,
            note,
            corrected_data,
            keyring,
        )
    else:
        _resolve(
            session, o, Status.CONFIRMED, Step.PROVIDER_CONFIRMED, at, actor_account_id, actor_org_id, note
        )
    return view(session, o, at=at)


def _check_provider(o: Objection, org_id: str | None) -> None:
    if org_id != o.provider_org_id:
        raise Forbidden(f"objection {o.id} concerns another provider's record")


def _resolve(
    session: Session,
    o: Objection,
    status: Status,
    step: Step,
    at: dt.datetime,
    actor_account_id: str,
    actor_org_id: str | None,
    note: str,
    corrected_data: Mapping[str, Any] | None = None,
    keyring: Keyring | None = None,
) -> None:
    record = session.get(CreditRecord, o.record_id)
    assert record is not None
    extra: dict[str, Any] = {}
    if corrected_data is not None:
        new = correct_record(session, record, corrected_data, at=at, keyring=keyring)
        o.corrected_record_id = new.id
        extra["corrected_record_id"] = new.id
        extra["corrected_version"] = new.version
    session.execute(
        update(CreditRecord)
        .where(CreditRecord.id.in_(record_versions(session, o)))
        .values(under_objection=False)
        .execution_options(synchronize_session="fetch")
    )
    o.status = status.value
    o.resolved_at = at
    o.outcome_note = note
    session.flush()
    event = append_step(
        session, o, step, at, actor_account_id=actor_account_id, actor_org_id=actor_org_id, note=note
    )
    notify(session, o, event, f"record_{status.value}", extra)
