"""Every consent state change is a ledger entry: no code path writes a consent row except the lifecycle
functions, and consents recorded outside the web pages (seeding, a bank's counter) carry their request
and grant entries, so the log alone authorises every access made under them."""

from __future__ import annotations

import pytest

from fincredit.consent import ConsentStatus, read_export, replay_authorisation
from fincredit.platform.consents import export_ledger
from fincredit.platform.consents._records import ConsentWriteOutsideLifecycle
from fincredit.platform.consents.tables import Consent
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
