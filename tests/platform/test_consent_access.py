"""authorize_access is the one gate: it allows under a consent (counting the use and ledgering the
disclosure in the caller's transaction) or refuses — and the refusal is ledgered even though the caller's
request fails. Revocation applies to every later access; ONETIME consents are used up; the credit
authority needs no consent; batches ledger one entry per subject; expiry is lazy and swept."""

from __future__ import annotations

import datetime as dt
import random
import uuid

import pytest
from sqlalchemy import select

from fincredit.consent import (
    AccessMode,
    ConsentArtefact,
    DataLife,
    DataLifeUnit,
    FetchType,
    Frequency,
    PeriodUnit,
    Purpose,
)
from fincredit.consent.identifiers import generate_uscc
from fincredit.platform.consents import (
    RecordedGrant,
    act_on_consent,
    authorize_access,
    authorize_many,
    expire_due,
    library_subject,
    read_size,
    record_disclosure,
    record_grants,
)
from fincredit.platform.consents.tables import Consent, LedgerEntryRow
from fincredit.platform.core.db import Subject
from fincredit.platform.core.errors import ConsentRefused
from fincredit.platform.identity.principal import Principal
from fincredit.platform.subjects import register_subject
from fincredit.platform.testing.plugin import new_institution

NOW = dt.datetime.now(dt.UTC)


def _principal(services, kind: str = "bank") -> Principal:  # type: ignore[no-untyped-def]
    inst = new_institution(services, kind)
    return Principal(
        account_id=inst.account_id,
        account_kind="institution",
        org_id=inst.org_id,
        org_kind=kind,
        domain=inst.org_id,
    )


def _subject(services) -> int:  # type: ignore[no-untyped-def]
    code = generate_uscc(random.Random(uuid.uuid4().int), "330203")
    with services.tx() as session:
        return register_subject(session, services.keyring, code, "宁波甲乙科技有限公司").id


def _consent(
    services,  # type: ignore[no-untyped-def]
    subject_id: int,
    grantee: str,
    *,
    fetch: FetchType = FetchType.PERIODIC,
    valid_until: dt.datetime | None = None,
    granted: bool = True,
) -> str:
    """A consent requested and granted through the lifecycle, as at a counter (the HTTP lifecycle has its
    own tests)."""
    start = NOW - dt.timedelta(days=2)
    with services.tx() as session:
        subject = session.get(Subject, subject_id)
        artefact = ConsentArtefact(
            subject=library_subject(services.keyring, subject),
            grantee=grantee,
            purpose=Purpose.LOAN_APPLICATION_ASSESSMENT,
            scopes=frozenset({"tax", "court"}),
            modes=frozenset({AccessMode.QUERY, AccessMode.REPORT}),
            valid_from=start,
            valid_until=valid_until or NOW + dt.timedelta(days=30),
            fetch_type=fetch,
            frequency=Frequency(value=100, unit=PeriodUnit.DAY) if fetch is FetchType.PERIODIC else None,
            data_life=DataLife(value=1, unit=DataLifeUnit.YEAR),
            created_at=start,
        )
        approver = "acc_x" if granted else None
        record_grants(
            session, services, [RecordedGrant(subject_id, artefact, approver, start, "web")], actor="t"
        )
        return artefact.consent_id


def _entry(services, seq: int) -> LedgerEntryRow:  # type: ignore[no-untyped-def]
    with services.read() as session:
        row = session.get(LedgerEntryRow, seq)
        assert row is not None
        return row


ACCESS = {"scopes": ["tax.payment"], "purpose": "loan_application_assessment", "mode": "query"}


def test_an_allowed_access_counts_the_use_and_ledgers_the_disclosure(services) -> None:  # type: ignore[no-untyped-def]
    bank = _principal(services)
    sid = _subject(services)
    cid = _consent(services, sid, bank.org_id)  # type: ignore[arg-type]
    with services.tx() as session:
        allowed = authorize_access(
            session, services, principal=bank, subject=sid, route="/test", payload_digest="ab" * 32, **ACCESS
        )
    assert allowed.consent_id == cid and allowed.ledger_seq is not None
    entry = _entry(services, allowed.ledger_seq)
    assert (entry.type, entry.consent_id, entry.grantee_org_id) == ("disclosure", cid, bank.org_id)
    assert entry.payload_sha256 == "ab" * 32 and entry.account_id == bank.account_id
    with services.read() as session:
        consent = session.get(Consent, cid)
        assert consent is not None and consent.use_count == 1 and consent.last_used_at is not None


def test_if_the_callers_transaction_fails_nothing_is_used_or_ledgered(services) -> None:  # type: ignore[no-untyped-def]
    bank = _principal(services)
    sid = _subject(services)
    cid = _consent(services, sid, bank.org_id)  # type: ignore[arg-type]
    with services.read() as session:
        before = read_size(session)
    with pytest.raises(RuntimeError), services.tx() as session:
        authorize_access(session, services, principal=bank, subject=sid, route="/test", **ACCESS)
        raise RuntimeError("building the response failed")
    with services.read() as session:
        assert session.get(Consent, cid).use_count == 0  # type: ignore[union-attr]
        mine = session.scalars(
            select(LedgerEntryRow.type).where(LedgerEntryRow.consent_id == cid).order_by(LedgerEntryRow.seq)
        ).all()
        assert mine == ["consent_requested", "consent_granted"] and read_size(session) >= before


def test_after_revocation_access_is_refused_and_the_refusal_is_ledgered(services) -> None:  # type: ignore[no-untyped-def]
    bank = _principal(services)
    sid = _subject(services)
    cid = _consent(services, sid, bank.org_id)  # type: ignore[arg-type]
    with services.tx() as session:
        first = authorize_access(session, services, principal=bank, subject=sid, route="/r", **ACCESS)
    owner = Principal(
        account_id="acc_owner",
        account_kind="borrower",
        org_id=None,
        org_kind=None,
        domain="borrowers",
        subject_id=sid,
    )
    with services.tx() as session:
        act_on_consent(session, services, principal=owner, consent_id=cid, action="revoke")
    with pytest.raises(ConsentRefused) as refused, services.tx() as session:
        authorize_access(session, services, principal=bank, subject=sid, route="/r", **ACCESS)
        pytest.fail("unreachable: the refusal raises")
    problem = refused.value
    assert problem.status == 403 and problem.extensions["reason"] == "revoked"
    assert problem.extensions["consent_id"] == cid
    entry = _entry(services, problem.extensions["ledger_seq"])
    assert entry.type == "refusal" and entry.consent_id == cid and entry.seq > first.ledger_seq  # type: ignore[operator]
    assert b'"reason":"revoked"' in bytes(entry.entry)


def test_no_consent_and_other_grantees_consents_are_refused(services) -> None:  # type: ignore[no-untyped-def]
    bank, rival = _principal(services), _principal(services)
    sid = _subject(services)
    _consent(services, sid, rival.org_id)  # type: ignore[arg-type]
    with pytest.raises(ConsentRefused) as refused, services.tx() as session:
        authorize_access(session, services, principal=bank, subject=sid, route="/r", **ACCESS)
    assert refused.value.extensions["reason"] == "no_consent"
    assert _entry(services, refused.value.extensions["ledger_seq"]).grantee_org_id == bank.org_id


def test_a_onetime_consent_is_used_up_by_its_first_use(services) -> None:  # type: ignore[no-untyped-def]
    bank = _principal(services)
    sid = _subject(services)
    cid = _consent(services, sid, bank.org_id, fetch=FetchType.ONETIME)  # type: ignore[arg-type]
    with services.tx() as session:
        authorize_access(session, services, principal=bank, subject=sid, route="/r", **ACCESS)
    with services.read() as session:
        assert session.get(Consent, cid).state == "EXHAUSTED"  # type: ignore[union-attr]
        types = session.scalars(
            select(LedgerEntryRow.type).where(LedgerEntryRow.consent_id == cid).order_by(LedgerEntryRow.seq)
        ).all()
        assert types == ["consent_requested", "consent_granted", "disclosure", "consent_exhausted"]
    with pytest.raises(ConsentRefused) as refused, services.tx() as session:
        authorize_access(session, services, principal=bank, subject=sid, route="/r", **ACCESS)
    assert refused.value.extensions["reason"] == "exhausted"


def test_the_credit_authority_needs_no_consent_but_is_ledgered(services) -> None:  # type: ignore[no-untyped-def]
    authority = _principal(services, "credit_authority")
    sid = _subject(services)
    with services.tx() as session:
        allowed = authorize_access(session, services, principal=authority, subject=sid, route="/r", **ACCESS)
    assert allowed.basis.value == "credit_authority" and allowed.consent_id is None
    assert b'"basis":"credit_authority"' in bytes(_entry(services, allowed.ledger_seq).entry)  # type: ignore[arg-type]


def test_a_deferred_disclosure_is_ledgered_with_the_payload_digest(services) -> None:  # type: ignore[no-untyped-def]
    bank = _principal(services)
    sid = _subject(services)
    _consent(services, sid, bank.org_id)  # type: ignore[arg-type]
    with services.tx() as session:
        allowed = authorize_access(
            session, services, principal=bank, subject=sid, route="/r", defer_disclosure=True, **ACCESS
        )
        assert allowed.ledger_seq is None
        seq = record_disclosure(session, services, allowed, payload_digest="cd" * 32)
    assert _entry(services, seq).payload_sha256 == "cd" * 32


def test_a_batch_ledgers_one_entry_per_subject(services) -> None:  # type: ignore[no-untyped-def]
    bank = _principal(services)
    consenting = [_subject(services) for _ in range(3)]
    silent = [_subject(services) for _ in range(2)]
    for sid in consenting:
        _consent(services, sid, bank.org_id)  # type: ignore[arg-type]
    with services.tx() as session:
        results = authorize_many(
            session, services, principal=bank, subjects=consenting + silent, route="/psi", **ACCESS
        )
    assert [r.allowed for r in results] == [True, True, True, False, False]
    seqs = [r.ledger_seq for r in results]
    assert seqs == list(range(seqs[0], seqs[0] + 5))  # type: ignore[arg-type,operator]
    assert [_entry(services, s).type for s in seqs] == ["disclosure"] * 3 + ["refusal"] * 2  # type: ignore[arg-type]


def test_expiry_is_lazy_on_touch_and_swept_by_the_job(services) -> None:  # type: ignore[no-untyped-def]
    bank = _principal(services)
    touched, swept = _subject(services), _subject(services)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    c1 = _consent(services, touched, bank.org_id, valid_until=soon)  # type: ignore[arg-type]
    c2 = _consent(services, swept, bank.org_id, valid_until=soon)  # type: ignore[arg-type]
    later = soon + dt.timedelta(seconds=1)
    with pytest.raises(ConsentRefused) as refused, services.tx() as session:
        authorize_access(session, services, principal=bank, subject=touched, route="/r", now=later, **ACCESS)
    assert refused.value.extensions["reason"] == "expired"
    assert expire_due(services, now=later) >= 1
    with services.read() as session:
        for cid in (c1, c2):
            assert session.get(Consent, cid).state == "EXPIRED"  # type: ignore[union-attr]
            types = session.scalars(select(LedgerEntryRow.type).where(LedgerEntryRow.consent_id == cid)).all()
            assert "consent_expired" in types
