"""Every consent state change is a ledger entry: no code path writes a consent row except the lifecycle
functions, and consents recorded outside the web pages (seeding, a bank's counter) carry their request
and grant entries, so the log alone authorises every access made under them."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from fincredit.consent import (
    AccessMode,
    ConsentArtefact,
    ConsentEvent,
    ConsentStatus,
    DataLife,
    DataLifeUnit,
    FetchType,
    Frequency,
    PeriodUnit,
    Purpose,
    read_export,
    replay_authorisation,
)
from fincredit.platform.consents import RecordedGrant, export_ledger, library_subject, record_grants
from fincredit.platform.consents._records import ConsentWriteOutsideLifecycle, artefact_of
from fincredit.platform.consents.tables import Consent
from fincredit.platform.core.db import Subject, utcnow
from fincredit.platform.core.errors import IllegalConsentTransition
from fincredit.platform.testing.plugin import auth, new_institution
from fincredit.platform.testing.seed import grant_consent, load_records, new_enterprise


def test_a_consent_row_changed_outside_the_lifecycle_is_refused_and_nothing_is_stored(services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    _, subject_id = new_enterprise(services)
    consent_id = grant_consent(services, subject_id, bank.org_id)
    with pytest.raises(ConsentWriteOutsideLifecycle), services.tx() as session:
        row = session.get(Consent, consent_id)
        assert row is not None
        row.state = ConsentStatus.REVOKED.value  # no revocation entry: refused at flush
    with services.read() as session:
        row = session.get(Consent, consent_id)
        assert row is not None and row.state == ConsentStatus.ACTIVE.value


def test_seeded_consents_are_granted_in_the_log_and_authorise_their_accesses(  # type: ignore[no-untyped-def]
    client, services, tmp_path
) -> None:
    bank = new_institution(services, "bank")
    code, subject_id = new_enterprise(services)
    load_records(
        services,
        "tax_rating",
        code,
        [
            {
                "provider_record_id": f"T-{subject_id}",
                "rating_year": 2025,
                "rating": "A",
                "rated_date": "2025-04-01",
            }
        ],
    )
    consent_id = grant_consent(services, subject_id, bank.org_id, scopes=["tax_rating"])
    r = client.post(
        "/api/v1/free/query",
        headers=auth(client, bank),
        json={
            "identifier": code,
            "purpose": "loan_application_assessment",
            "items": [{"code": "tax_rating"}],
        },
    )
    assert r.status_code == 200, r.text

    path = tmp_path / "ledger.parquet"
    export_ledger(services, path)
    # The suite shares one database: judge this consent's entries (other tests change consents in ways
    # of their own).
    report, states = replay_authorisation(read_export(path), max_reported=None)
    assert states[consent_id].use_count == 1
    assert [v.line() for v in report.violations if v.consent_id == consent_id] == []


def test_bulk_grants_store_each_consent_in_its_final_state_with_every_act_ledgered(  # type: ignore[no-untyped-def]
    services, tmp_path
) -> None:
    """record_grants inserts a batch's rows in one statement (the seeding path of the benchmarks' million
    consents); the rows equal what the lifecycle implies, and the log's replay agrees with the table."""
    bank = new_institution(services, "bank")
    subjects = [new_enterprise(services)[1] for _ in range(3)]
    start = utcnow() - dt.timedelta(days=2)
    with services.tx() as session:
        artefacts = [
            ConsentArtefact(
                subject=library_subject(services.keyring, session.get(Subject, sid)),
                grantee=bank.org_id,
                purpose=Purpose.LOAN_APPLICATION_ASSESSMENT,
                scopes=frozenset({"tax_rating"}),
                modes=frozenset({AccessMode.QUERY}),
                valid_from=start,
                valid_until=start + dt.timedelta(days=30),
                fetch_type=FetchType.PERIODIC,
                frequency=Frequency(value=5, unit=PeriodUnit.DAY),
                data_life=DataLife(value=1, unit=DataLifeUnit.YEAR),
                created_at=start,
            )
            for sid in subjects
        ]
        later = start + dt.timedelta(hours=1)
        acts = [
            (),
            ((ConsentEvent.PAUSE, later),),
            ((ConsentEvent.PAUSE, later), (ConsentEvent.REVOKE, later)),
        ]
        record_grants(
            session,
            services,
            [
                RecordedGrant(sid, a, "acc_counter", start, "counter", then=then)
                for sid, a, then in zip(subjects, artefacts, acts, strict=True)
            ],
            actor="t",
        )
    with services.read() as session:
        rows = {a.consent_id: session.get(Consent, a.consent_id) for a in artefacts}
        states = [rows[a.consent_id].state for a in artefacts]
        assert states == ["ACTIVE", "PAUSED", "REVOKED"]
        assert artefact_of(services.keyring, rows[artefacts[0].consent_id]).is_signed
    with pytest.raises(IllegalConsentTransition), services.tx() as session:
        bad = artefacts[0].model_copy(update={"consent_id": "cns_resume_active"})
        grant = RecordedGrant(subjects[0], bad, "acc", start, "web", then=((ConsentEvent.RESUME, later),))
        record_grants(session, services, [grant], actor="t")
    path = tmp_path / "ledger.parquet"
    export_ledger(services, path)
    report, log = replay_authorisation(read_export(path), max_reported=None)
    assert [log[a.consent_id].status.value for a in artefacts] == states
    assert [v.line() for v in report.violations if v.consent_id in rows] == []


# Statements that write the consents table without the ORM (so the flush guard above never sees them).
_CORE_WRITE = re.compile(
    r"(insert|update|delete)\(\s*Consent\b|Consent\.__table__|cast\(Table, Consent"
    r"|(INSERT\s+INTO|UPDATE|DELETE\s+FROM|COPY)\s+consents\b",
    re.IGNORECASE,
)
_LIFECYCLE_WRITERS = {
    "platform/src/fincredit/platform/consents/_manage.py",  # record_grants: the bulk insert
    "platform/src/fincredit/platform/consents/_access.py",  # the gate: use counts, beside their entries
    "platform/src/fincredit/platform/consents/_records.py",
    # The benchmark's baseline: the old direct insert, timed beside record_grants and deleted after.
    "bench/consent.py",
}


def test_no_code_outside_the_lifecycle_writes_the_consents_table_with_sql() -> None:
    root = Path(__file__).resolve().parents[2]
    found = []
    for folder in ("platform/src", "bench", "federation/src", "consent/src"):
        for path in (root / folder).rglob("*.py"):
            name = path.relative_to(root).as_posix()
            if name in _LIFECYCLE_WRITERS or "/migrations/" in name:
                continue
            text = path.read_text(encoding="utf-8")
            found += [f"{name}: {m.group(0)}" for m in _CORE_WRITE.finditer(text)]
    assert found == []
