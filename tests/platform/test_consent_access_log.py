"""The gate's writes keep the consents table and the log in step: every use it counts has its access
entry, each entry carries the moment the use was decided and the type of access it was, and a consent's
exhaustion follows the access that spent it. Replaying a consent's own entries (what the regulator's
authorisation check does) gives back the row the platform holds."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from fincredit.consent import AuthorisationReplay, FetchType, format_time, state_differences
from fincredit.platform.consents import AccessAsk, AccessBatch, authorize_access, record_disclosure
from fincredit.platform.consents._ledger import subject_indexer
from fincredit.platform.consents._records import state_of
from fincredit.platform.consents.tables import Consent, LedgerEntryRow
from fincredit.platform.core.db import Subject
from fincredit.platform.identity.principal import Principal
from fincredit.platform.testing.plugin import new_institution
from fincredit.platform.testing.seed import grant_consent, new_enterprise

SCOPES = frozenset({"tax_rating"})
PURPOSE = "loan_application_assessment"


def _bank(services) -> Principal:  # type: ignore[no-untyped-def]
    inst = new_institution(services, "bank")
    return Principal(
        account_id=inst.account_id,
        account_kind="institution",
        org_id=inst.org_id,
        org_kind="bank",
        domain=inst.org_id,
    )


def _log_of(services, consent_id: str) -> list[LedgerEntryRow]:  # type: ignore[no-untyped-def]
    with services.read() as session:
        return list(
            session.scalars(
                select(LedgerEntryRow)
                .where(LedgerEntryRow.consent_id == consent_id)
                .order_by(LedgerEntryRow.seq)
            )
        )


def _replayed_matches_table(services, consent_id: str) -> None:  # type: ignore[no-untyped-def]
    entries = _log_of(services, consent_id)
    replay = AuthorisationReplay()
    replay.feed([e.seq for e in entries], [bytes(e.entry) for e in entries])
    report = replay.finish()
    assert report.ok, report.lines()
    with services.read() as session:
        row = session.get(Consent, consent_id)
        assert row is not None
        table = [state_of(services.keyring, row)]
    differences = list(state_differences(replay.states(), table, subject_indexer(services.keyring)))
    assert differences == [], [d.line() for d in differences]


def test_an_allowed_ask_never_disclosed_counts_no_use_and_writes_nothing(services) -> None:  # type: ignore[no-untyped-def]
    bank = _bank(services)
    _, sid = new_enterprise(services)
    cid = grant_consent(services, sid, bank.org_id, scopes=SCOPES)
    with services.tx() as session:
        subject = session.get(Subject, sid)
        assert subject is not None
        batch = AccessBatch(session, services)
        ask = AccessAsk(bank, subject, SCOPES, PURPOSE, "query", "/test")
        first, second = batch.decide([ask, ask])
        assert not isinstance(first, Exception) and not isinstance(second, Exception)
        assert first.permitted and second.permitted
        batch.disclose(second, "cd" * 32)  # the first answer could not be built: it is not disclosed
        batch.write()
    assert first.ledger_seq is None and second.ledger_seq is not None
    with services.read() as session:
        assert session.get(Consent, cid).use_count == 1  # type: ignore[union-attr]
    assert [e.type for e in _log_of(services, cid)] == ["consent_requested", "consent_granted", "disclosure"]
    _replayed_matches_table(services, cid)


def test_a_batch_ledgers_the_access_before_the_exhaustion_it_caused(services) -> None:  # type: ignore[no-untyped-def]
    bank = _bank(services)
    _, sid = new_enterprise(services)
    cid = grant_consent(services, sid, bank.org_id, scopes=SCOPES, fetch=FetchType.ONETIME)
    with services.tx() as session:
        subject = session.get(Subject, sid)
        assert subject is not None
        batch = AccessBatch(session, services)
        ask = AccessAsk(bank, subject, SCOPES, PURPOSE, "query", "/test")
        used, again = batch.decide([ask, ask])
        assert not isinstance(used, Exception) and not isinstance(again, Exception)
        assert used.permitted and not again.permitted  # the ONETIME consent is spent by the first
        batch.disclose(used, None)
        batch.write()
    types = [e.type for e in _log_of(services, cid)]
    assert types == ["consent_requested", "consent_granted", "disclosure", "consent_exhausted", "refusal"]
    with services.read() as session:
        assert session.get(Consent, cid).state == "EXHAUSTED"  # type: ignore[union-attr]
    _replayed_matches_table(services, cid)


def test_a_deferred_disclosure_is_dated_when_it_was_decided_and_precedes_the_exhaustion(services) -> None:  # type: ignore[no-untyped-def]
    bank = _bank(services)
    _, sid = new_enterprise(services)
    cid = grant_consent(services, sid, bank.org_id, scopes=SCOPES, fetch=FetchType.ONETIME)
    # Decided just before midnight, ledgered after it: the use belongs to the day it was counted in.
    decided = dt.datetime.now(dt.UTC).replace(hour=23, minute=59, second=59) - dt.timedelta(days=1)
    with services.tx() as session:
        allowed = authorize_access(
            session,
            services,
            principal=bank,
            subject=sid,
            scopes=SCOPES,
            purpose=PURPOSE,
            mode="report",
            route="/test/report",
            defer_disclosure=True,
            now=decided,
        )
        seq = record_disclosure(session, services, allowed, payload_digest="ef" * 32)
    log = _log_of(services, cid)
    assert [e.type for e in log] == [
        "consent_requested",
        "consent_granted",
        "report_issued",
        "consent_exhausted",
    ]
    assert log[2].seq == seq and b'"at":"' + format_time(decided).encode() + b'"' in bytes(log[2].entry)
    _replayed_matches_table(services, cid)


def test_each_kind_of_access_is_ledgered_as_its_own_entry_type(services) -> None:  # type: ignore[no-untyped-def]
    bank = _bank(services)
    _, sid = new_enterprise(services)
    kinds = {
        ("query", PURPOSE): "disclosure",
        ("report", PURPOSE): "report_issued",
        ("push_subscription", "post_loan_monitoring"): "push_disclosure",
        ("model_training", "joint_modelling"): "joint_modelling_use",
        ("scoring", "encrypted_scoring"): "scoring_use",
        ("query", "government_sharing"): "government_sharing",
    }
    for (mode, purpose), expected in kinds.items():
        cid = grant_consent(services, sid, bank.org_id, purpose=purpose, scopes=SCOPES, modes=[mode])
        with services.tx() as session:
            allowed = authorize_access(
                session, services, principal=bank, subject=sid, scopes=SCOPES, purpose=purpose, mode=mode,
                route="/test",
            )  # fmt: skip
        assert allowed.ledger_seq is not None
        assert _log_of(services, cid)[-1].type == expected, (mode, purpose)
        _replayed_matches_table(services, cid)
