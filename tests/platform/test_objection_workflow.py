"""The objection workflow of R§10: 3 working days for the platform's check, 10 for the provider's answer,
extendable once by at most 15; the record is flagged while disputed; a correction is a new version;
every step is in the append-only trail with its deadline; banks that received the record are told.

Deadlines cross the 2026 National Day holiday (1-7 October) and its make-up working Saturday (10 October).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from fincredit.consent.identifiers import generate_uscc
from fincredit.platform.catalog.tables import CatalogVersion
from fincredit.platform.core.errors import Forbidden, InvalidInput, NotFound, ObjectionStateError
from fincredit.platform.ingestion.tables import CreditRecord, Submission
from fincredit.platform.objections import (
    extend_provider_deadline,
    file_objection,
    get_objection,
    note_disclosure,
    objection_status,
    on_objection_event,
    outbox,
    overdue_objections,
    platform_check,
    provider_answer,
)
from fincredit.platform.objections.tables import ObjectionEvent
from fincredit.platform.subjects import register_subject
from fincredit.platform.testing.plugin import new_institution


def beijing(y: int, m: int, d: int, hour: int = 10) -> dt.datetime:
    """``hour`` o'clock in Beijing on that day, as UTC."""
    return dt.datetime(y, m, d, hour, tzinfo=dt.timezone(dt.timedelta(hours=8))).astimezone(dt.UTC)


@dataclass
class Disputed:
    subject_id: int
    record_id: int
    provider: str
    bank: str


def _catalog_version_id(session) -> int:  # type: ignore[no-untyped-def]
    found = session.scalar(select(CatalogVersion.id).order_by(CatalogVersion.number.desc()).limit(1))
    if found is not None:
        return int(found)
    try:  # the catalog capability seeds the default catalog; without it, a bare version will do
        from fincredit.platform.catalog import current_version

        return int(current_version(session).id)
    except ImportError:
        version = CatalogVersion(number=1, note="objection tests")
        session.add(version)
        session.flush()
        return int(version.id)


def make_record(services, provider: str, data: dict[str, object]) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """A loaded credit record (version 1) about a fresh enterprise; returns (subject id, record id)."""
    code = generate_uscc(random.Random(uuid.uuid4().int), "330212")
    with services.tx() as session:
        subject = register_subject(session, services.keyring, code, "宁波异议测试有限公司")
        catalog_version_id = _catalog_version_id(session)
        submission = Submission(
            provider_org_id=provider,
            item_code="administrative_penalty",
            catalog_version_id=catalog_version_id,
            month="2026-08",
            kind="file",
            channel="api",
            due_date=dt.date(2026, 9, 10),
            status="processed",
            processing_due=dt.date(2026, 9, 17),
        )
        session.add(submission)
        session.flush()
        record = CreditRecord(
            subject_id=subject.id,
            subject_kind="legal",
            item_code="administrative_penalty",
            provider_org_id=provider,
            provider_record_id=uuid.uuid4().hex,
            version=1,
            current=True,
            report_month="2026-08",
            data=data,
            content_hash="0" * 64,
            event_date=dt.date(2026, 8, 3),
            negative=True,
            submission_id=submission.id,
            catalog_version_id=catalog_version_id,
        )
        session.add(record)
        session.flush()
        return subject.id, record.id


@pytest.fixture
def disputed(services) -> Disputed:  # type: ignore[no-untyped-def]
    provider = new_institution(services, "data_provider").org_id
    bank = new_institution(services, "bank").org_id
    subject_id, record_id = make_record(
        services, provider, {"penalty_amount": 50000.0, "decision_no": "甬市监罚〔2026〕88号"}
    )
    with services.tx() as session:
        note_disclosure(session, [record_id], bank, purpose="loan_application_assessment")
    return Disputed(subject_id, record_id, provider, bank)


def _file(services, d: Disputed, at: dt.datetime) -> int:  # type: ignore[no-untyped-def]
    with services.tx() as session:
        return file_objection(
            session,
            subject_id=d.subject_id,
            record_id=d.record_id,
            reason="罚款金额应为5000元",
            filed_by="acc_b",
            at=at,
        ).id


def test_deadlines_count_working_days_across_national_day(services, disputed) -> None:  # type: ignore[no-untyped-def]
    objection_id = _file(services, disputed, beijing(2026, 9, 29))
    with services.read() as session:
        o = get_objection(session, objection_id, at=beijing(2026, 9, 29))
    # 30 Sep counts, 1-7 Oct are holidays, 8 and 9 Oct count.
    assert o.platform_due == dt.date(2026, 10, 9) and o.status == "platform_review"
    assert not o.deadlines_provisional
    with services.tx() as session:
        o = platform_check(
            session,
            objection_id,
            processing_correct=True,
            note="matching and loading verified",
            actor_account_id="acc_op",
            actor_org_id="op",
            at=beijing(2026, 10, 9),
        )
    # The make-up Saturday 10 Oct is a working day: 10, 12-16, 19-22 Oct.
    assert o.status == "provider_review" and o.provider_due == dt.date(2026, 10, 22)
    with services.tx() as session:
        o = extend_provider_deadline(
            session,
            objection_id,
            days=15,
            reason="court file requested",
            actor_account_id="acc_p",
            actor_org_id=disputed.provider,
            at=beijing(2026, 10, 20),
        )
    assert o.provider_due == dt.date(2026, 11, 12) and o.extension_days == 15
    assert [(e.step, e.deadline) for e in o.events] == [
        ("filed", dt.date(2026, 10, 9)),
        ("referred_to_provider", dt.date(2026, 10, 22)),
        ("extended", dt.date(2026, 11, 12)),
    ]


def test_filing_on_the_eve_of_the_holiday_lands_on_the_make_up_saturday(services, disputed) -> None:  # type: ignore[no-untyped-def]
    objection_id = _file(services, disputed, beijing(2026, 9, 30, hour=23))
    with services.read() as session:
        assert get_objection(session, objection_id).platform_due == dt.date(2026, 10, 10)


def test_the_extension_is_granted_once_and_by_at_most_15_working_days(services, disputed) -> None:  # type: ignore[no-untyped-def]
    objection_id = _file(services, disputed, beijing(2026, 9, 29))
    with services.tx() as session:
        platform_check(
            session,
            objection_id,
            processing_correct=True,
            note="ok",
            actor_account_id="acc_op",
            actor_org_id="op",
            at=beijing(2026, 9, 30),
        )
    kwargs = {"reason": "need time", "actor_account_id": "acc_p", "actor_org_id": disputed.provider}
    with pytest.raises(InvalidInput), services.tx() as session:
        extend_provider_deadline(session, objection_id, days=16, at=beijing(2026, 10, 9), **kwargs)
    with services.tx() as session:
        extend_provider_deadline(session, objection_id, days=5, at=beijing(2026, 10, 9), **kwargs)
    with pytest.raises(ObjectionStateError, match="already extended once"), services.tx() as session:
        extend_provider_deadline(session, objection_id, days=5, at=beijing(2026, 10, 12), **kwargs)
    with pytest.raises(Forbidden), services.tx() as session:
        extend_provider_deadline(
            session, objection_id, days=1, reason="x", actor_account_id="acc_q", actor_org_id="someone-else"
        )


def test_the_record_is_flagged_while_disputed_and_cleared_after_confirmation(services, disputed) -> None:  # type: ignore[no-untyped-def]
    with services.read() as session:
        assert objection_status(session, [disputed.record_id]) == {}
    objection_id = _file(services, disputed, beijing(2026, 9, 29))
    with services.read() as session:
        status = objection_status(session, [disputed.record_id])[disputed.record_id]
        assert status.objection_id == objection_id and status.deadline == dt.date(2026, 10, 9)
        assert session.get(CreditRecord, disputed.record_id).under_objection
    with pytest.raises(ObjectionStateError), services.tx() as session:
        file_objection(
            session,
            subject_id=disputed.subject_id,
            record_id=disputed.record_id,
            reason="again",
            filed_by="b",
        )
    with services.tx() as session:
        platform_check(
            session,
            objection_id,
            processing_correct=True,
            note="ok",
            actor_account_id="op",
            actor_org_id="op",
        )
        o = provider_answer(
            session,
            objection_id,
            correct=False,
            note="决定书核对无误",
            actor_account_id="acc_p",
            actor_org_id=disputed.provider,
        )
    assert o.status == "confirmed" and o.corrected_record_id is None
    with services.read() as session:
        assert objection_status(session, [disputed.record_id]) == {}
        record = session.get(CreditRecord, disputed.record_id)
        assert not record.under_objection and record.current and record.version == 1


def test_a_correction_creates_a_new_version_and_notifies_the_banks_that_received_it(
    services, disputed
) -> None:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    unregister = on_objection_event(lambda e: seen.append(e.step))
    try:
        objection_id = _file(services, disputed, beijing(2026, 9, 29))
        with services.tx() as session:
            platform_check(
                session,
                objection_id,
                processing_correct=True,
                note="ok",
                actor_account_id="op",
                actor_org_id="op",
            )
            o = provider_answer(
                session,
                objection_id,
                correct=True,
                note="金额录入错误",
                actor_account_id="acc_p",
                actor_org_id=disputed.provider,
                corrected_data={"penalty_amount": 5000.0},
            )
    finally:
        unregister()
    assert seen == ["filed", "referred_to_provider", "provider_corrected"]
    assert o.status == "corrected" and o.corrected_record_id is not None
    with services.read() as session:
        old = session.get(CreditRecord, disputed.record_id)
        new = session.get(CreditRecord, o.corrected_record_id)
        assert not old.current and old.superseded_at is not None and old.data["penalty_amount"] == 50000.0
        assert new.current and new.version == 2 and new.data["penalty_amount"] == 5000.0
        assert new.data["decision_no"] == old.data["decision_no"] and not new.under_objection
        sent = outbox(session, recipient_org_id=disputed.bank)
    assert [m.kind for m in sent] == ["record_under_objection", "record_corrected"]
    assert json.loads(sent[-1].payload_json)["corrected_version"] == 2


def test_the_platform_corrects_its_own_processing_errors_without_the_provider(services, disputed) -> None:  # type: ignore[no-untyped-def]
    objection_id = _file(services, disputed, beijing(2026, 9, 29))
    with services.tx() as session:
        o = platform_check(
            session,
            objection_id,
            processing_correct=False,
            note="清洗时金额单位换算错误",
            actor_account_id="op",
            actor_org_id="op",
            corrected_data={"penalty_amount": 5000.0},
        )
    assert o.status == "corrected" and [e.step for e in o.events] == ["filed", "platform_corrected"]
    with pytest.raises(ObjectionStateError), services.tx() as session:
        provider_answer(
            session,
            objection_id,
            correct=False,
            note="x",
            actor_account_id="p",
            actor_org_id=disputed.provider,
        )


def test_only_the_subject_may_object_to_its_records(services, disputed) -> None:  # type: ignore[no-untyped-def]
    other_subject, _ = make_record(services, disputed.provider, {"penalty_amount": 1.0})
    with pytest.raises(NotFound), services.tx() as session:
        file_objection(
            session, subject_id=other_subject, record_id=disputed.record_id, reason="not mine", filed_by="x"
        )


def test_overdue_objections_are_listed(services, disputed) -> None:  # type: ignore[no-untyped-def]
    objection_id = _file(services, disputed, beijing(2026, 9, 29))
    with services.read() as session:
        assert objection_id not in [o.id for o in overdue_objections(session, beijing(2026, 10, 9, hour=23))]
        late = {o.id: o for o in overdue_objections(session, beijing(2026, 10, 10, hour=9))}
    assert objection_id in late and late[objection_id].current_deadline == dt.date(2026, 10, 9)


def test_the_trail_of_steps_is_append_only(services, disputed) -> None:  # type: ignore[no-untyped-def]
    objection_id = _file(services, disputed, beijing(2026, 9, 29))
    with pytest.raises(DBAPIError), services.tx() as session:
        event = session.scalar(select(ObjectionEvent).where(ObjectionEvent.objection_id == objection_id))
        event.note = "rewritten"
        session.flush()


def test_a_missed_deadline_is_written_into_the_trail_once(services, disputed) -> None:  # type: ignore[no-untyped-def]
    from fincredit.platform.objections import record_missed_deadlines

    objection_id = _file(services, disputed, beijing(2026, 9, 29))
    for day in (10, 12):  # the daily sweep runs twice after the 9 October deadline
        with services.tx() as session:
            record_missed_deadlines(session, beijing(2026, 10, day))
    with services.read() as session:
        steps = [(e.step, e.deadline) for e in get_objection(session, objection_id).events]
    assert steps == [("filed", dt.date(2026, 10, 9)), ("deadline_missed", dt.date(2026, 10, 9))]
