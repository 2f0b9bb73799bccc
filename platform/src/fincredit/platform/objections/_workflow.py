"""The objection workflow of R§10, step by step, each step appended to ``objection_events`` with the
deadline then running.

    filed ──(platform checks within 3 working days)──▶ platform found its own processing wrong
      │                                                  └─▶ corrected (new record version)
      └─▶ platform's processing right: referred to the provider
            ──(provider answers within 10 working days; one extension of at most 15)──▶
            corrected (new record version) | confirmed

While open, the record carries ``under_objection`` (shown wherever the record is shown); the outcome
clears it and notifies every bank the record was disclosed to (outbox rows for the push mechanism).
Working days follow the Chinese holiday calendar (``fincredit.platform.core.workdays``); a deadline is
counted from the Beijing calendar day of the step that starts it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, cast

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from fincredit.platform.core.db import insert_rows, utcnow
from fincredit.platform.core.db.hooks import after_commit
from fincredit.platform.core.errors import Forbidden, InvalidInput, NotFound, ObjectionStateError
from fincredit.platform.core.keyring import Keyring
from fincredit.platform.core.workdays import add_workdays
from fincredit.platform.ingestion import sensitive_fields
from fincredit.platform.ingestion.tables import CreditRecord
from fincredit.platform.market import china_date
from fincredit.platform.objections.tables import Objection, ObjectionEvent, ObjectionOutbox, RecordDisclosure

_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
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


_listeners: list[Callable[[EventView], None]] = []
RecipientsResolver = Callable[[Session, list[int]], set[str]]
_resolvers: list[RecipientsResolver] = []


def on_objection_event(callback: Callable[[EventView], None]) -> Callable[[], None]:
    """Call ``callback`` with every objection step once its transaction has committed (never for a
    rolled-back step). Returns a function that unregisters it."""
    _listeners.append(callback)
    return lambda: _listeners.remove(callback)


def add_recipients_resolver(resolver: RecipientsResolver) -> Callable[[], None]:
    """Another source of "which organisations received these records" (e.g. the query log of issue 5),
    besides ``record_disclosures``. Returns a function that unregisters it."""
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


def _current_deadline(o: Objection) -> dt.date | None:
    if o.status == Status.PLATFORM_REVIEW.value:
        return o.platform_due
    if o.status == Status.PROVIDER_REVIEW.value:
        return o.provider_due
    return None


def _event_view(e: ObjectionEvent) -> EventView:
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
    deadline = _current_deadline(o)
    today = china_date(at or utcnow())
    trail: tuple[EventView, ...] = ()
    if events:
        rows = session.scalars(
            select(ObjectionEvent).where(ObjectionEvent.objection_id == o.id).order_by(ObjectionEvent.seq)
        )
        trail = tuple(_event_view(e) for e in rows)
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


def _append(
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
        deadline=_current_deadline(o),
        deadline_provisional=provisional,
    )
    session.add(event)
    session.flush()
    snapshot = _event_view(event)
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


def _record_versions(session: Session, o: Objection) -> list[int]:
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


def _notify(
    session: Session, o: Objection, event: ObjectionEvent, kind: str, extra: Mapping[str, Any]
) -> int:
    recipients = sorted(_recipients(session, _record_versions(session, o)))
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


def _get(session: Session, objection_id: int, *, for_update: bool = True) -> Objection:
    q = select(Objection).where(Objection.id == objection_id)
    if for_update and session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    o = session.scalar(q)
    if o is None:
        raise NotFound(f"no objection {objection_id}")
    return o


def _require_status(o: Objection, *statuses: Status) -> None:
    if o.status not in {s.value for s in statuses}:
        raise ObjectionStateError(
            f"objection {o.id} is {o.status}; this step needs {' or '.join(s.value for s in statuses)}",
            status_now=o.status,
        )


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
    event = _append(
        session,
        o,
        Step.FILED,
        at,
        actor_account_id=filed_by,
        actor_org_id=None,
        note=o.reason,
        provisional=due.provisional,
    )
    _notify(session, o, event, "record_under_objection", {"platform_due": due.due.isoformat()})
    return view(session, o, at=at)


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
    o = _get(session, objection_id)
    _require_status(o, Status.PLATFORM_REVIEW)
    o.platform_checked_at = at
    if processing_correct:
        due = add_workdays(china_date(at), PROVIDER_ANSWER_DAYS)
        o.status = Status.PROVIDER_REVIEW.value
        o.provider_due = due.due
        o.deadlines_provisional = o.deadlines_provisional or due.provisional
        session.flush()
        _append(
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
    o = _get(session, objection_id)
    _check_provider(o, actor_org_id)
    _require_status(o, Status.PROVIDER_REVIEW)
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
    _append(
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
    o = _get(session, objection_id)
    _check_provider(o, actor_org_id)
    _require_status(o, Status.PROVIDER_REVIEW)
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
        .where(CreditRecord.id.in_(_record_versions(session, o)))
        .values(under_objection=False)
        .execution_options(synchronize_session="fetch")
    )
    o.status = status.value
    o.resolved_at = at
    o.outcome_note = note
    session.flush()
    event = _append(
        session, o, step, at, actor_account_id=actor_account_id, actor_org_id=actor_org_id, note=note
    )
    _notify(session, o, event, f"record_{status.value}", extra)


def content_hash(subject_id: int, data: Mapping[str, Any], secret_json: str) -> str:
    """The loader's change detector (``ingestion._load.stage_rows``): the same record re-submitted
    after a correction hashes the same, so it loads as unchanged instead of as yet another version."""
    encoded = _COMPACT_JSON(dict(data))
    return hashlib.sha256(f"{subject_id}\x1f{encoded}\x1f{secret_json}".encode()).hexdigest()


def correct_record(
    session: Session,
    record: CreditRecord,
    corrected: Mapping[str, Any],
    *,
    at: dt.datetime,
    keyring: Keyring | None = None,
) -> CreditRecord:
    """A new version of ``record`` with ``corrected`` fields changed; the old version is kept, marked
    superseded (the same versioning rule the loader applies to a changed submission). Only public
    fields are corrected here; ``keyring`` is needed to hash a record that also has sensitive fields."""
    current = session.scalar(
        select(CreditRecord).where(
            CreditRecord.provider_org_id == record.provider_org_id,
            CreditRecord.item_code == record.item_code,
            CreditRecord.provider_record_id == record.provider_record_id,
            CreditRecord.current.is_(True),
        )
    )
    base = current or record
    unknown = sorted(set(corrected) - set(base.data or {}))
    if unknown:
        raise InvalidInput(f"the record has no fields {unknown}", fields=unknown)
    data = {**(base.data or {}), **corrected}
    if data == base.data:
        raise InvalidInput("the correction changes nothing; confirm the record instead")
    secret_json = ""
    if base.sensitive_enc is not None:
        if keyring is None:
            raise ValueError("a record with sensitive fields needs the keyring to be re-hashed")
        secret_json = _COMPACT_JSON(sensitive_fields(keyring, base))
    top = session.scalar(
        select(func.max(CreditRecord.version)).where(
            CreditRecord.provider_org_id == record.provider_org_id,
            CreditRecord.item_code == record.item_code,
            CreditRecord.provider_record_id == record.provider_record_id,
        )
    )
    base.current = False
    base.superseded_at = at
    session.flush()
    new = CreditRecord(
        subject_id=base.subject_id,
        subject_kind=base.subject_kind,
        item_code=base.item_code,
        provider_org_id=base.provider_org_id,
        provider_record_id=base.provider_record_id,
        version=(top or base.version) + 1,
        current=True,
        report_month=base.report_month,
        data=data,
        sensitive_enc=base.sensitive_enc,
        content_hash=content_hash(base.subject_id, data, secret_json),
        event_date=base.event_date,
        valid_until=base.valid_until,
        negative=base.negative,
        # A correction is not a new submission: the version stays tied to the submission it corrects.
        submission_id=base.submission_id,
        catalog_version_id=base.catalog_version_id,
        loaded_at=at,
        under_objection=False,
    )
    session.add(new)
    session.flush()
    return new


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
            out[rid] = ObjectionStatus(rid, o.id, o.status, o.filed_at, _current_deadline(o))
    return out


def get_objection(session: Session, objection_id: int, *, at: dt.datetime | None = None) -> ObjectionView:
    return view(session, _get(session, objection_id, for_update=False), at=at)


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
        o = _get(session, late.id)
        already = session.scalar(
            select(ObjectionEvent.id).where(
                ObjectionEvent.objection_id == o.id,
                ObjectionEvent.step == Step.DEADLINE_MISSED.value,
                ObjectionEvent.deadline == _current_deadline(o),
            )
        )
        if already is not None:
            continue
        who = "the platform's check" if o.status == Status.PLATFORM_REVIEW.value else "the provider's answer"
        _append(
            session,
            o,
            Step.DEADLINE_MISSED,
            at,
            actor_account_id=None,
            actor_org_id=None,
            note=f"{who} was due on {_current_deadline(o)}",
        )
        marked.append(view(session, o, at=at))
    return marked


def outbox(
    session: Session, *, recipient_org_id: str | None = None, undelivered: bool = True
) -> list[ObjectionOutbox]:
    q = select(ObjectionOutbox).order_by(ObjectionOutbox.id)
    if recipient_org_id is not None:
        q = q.where(ObjectionOutbox.recipient_org_id == recipient_org_id)
    if undelivered:
        q = q.where(ObjectionOutbox.delivered_at.is_(None))
    return list(session.scalars(q))
