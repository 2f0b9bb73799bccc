"""A credit report asked for without a purpose takes the purpose of the caller's consent from the subject
when that is unambiguous, so a bank holding a loan-assessment consent need not repeat its purpose."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from fincredit.platform.core.services import Services
from fincredit.platform.testing.plugin import auth, new_institution
from fincredit.platform.testing.seed import grant_consent, load_records, new_enterprise


@pytest.fixture(autouse=True)
def _no_push_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINCREDIT_PUSH_WORKER", "0")


def test_a_report_without_a_purpose_uses_the_consents_purpose(client: TestClient, services: Services) -> None:
    ident, sid = new_enterprise(services)
    load_records(
        services,
        "tax_rating",
        ident,
        [{"provider_record_id": f"T-{sid}", "rating_year": 2025, "rating": "A", "rated_date": "2025-04-01"}],
    )
    bank = new_institution(services, "bank")
    h = auth(client, bank)
    grant_consent(services, sid, bank.org_id, purpose="loan_application_assessment", scopes=["tax_rating"])
    body = {"identifier": ident, "format": "json", "items": [{"code": "tax_rating"}]}
    r = client.post("/api/v1/free/reports", headers=h, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["purpose"] == "loan_application_assessment"


def test_with_two_purposes_the_caller_must_say_which(client: TestClient, services: Services) -> None:
    ident, sid = new_enterprise(services)
    bank = new_institution(services, "bank")
    h = auth(client, bank)
    grant_consent(services, sid, bank.org_id, purpose="loan_application_assessment", scopes=["tax_rating"])
    grant_consent(
        services, sid, bank.org_id, purpose="credit_report", scopes=["admin_penalty"], modes=["report"]
    )
    body = {"identifier": ident, "format": "json", "items": [{"code": "tax_rating"}]}
    assert (
        client.post("/api/v1/free/reports", headers=h, json=body).status_code == 403
    )  # credit_report lacks it
    chosen = client.post(
        "/api/v1/free/reports", headers=h, json={**body, "purpose": "loan_application_assessment"}
    )
    assert chosen.status_code == 200 and chosen.json()["purpose"] == "loan_application_assessment"
