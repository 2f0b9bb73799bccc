"""Every subject reads its own credit information free of charge (R§9): a borrower account gets the report
of its own subject, as JSON and PDF through the API and in the browser, without any consent, and nothing is
written to the consent ledger as a disclosure (nobody else saw anything)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from fincredit.platform.consents.tables import LedgerEntryRow
from fincredit.platform.core.services import Services
from fincredit.platform.identity.accounts import create_borrower_account
from fincredit.platform.testing.plugin import auth, new_institution, unique, web_login
from fincredit.platform.testing.seed import load_records, new_enterprise

PASSWORD = "borrower-pass-2026"


@pytest.fixture(autouse=True)
def _no_push_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINCREDIT_PUSH_WORKER", "0")


def _borrower(services: Services) -> tuple[str, int, str]:
    ident, sid = new_enterprise(services)
    load_records(
        services,
        "tax_rating",
        ident,
        [{"provider_record_id": f"T-{sid}", "rating_year": 2025, "rating": "B", "rated_date": "2025-04-01"}],
    )
    username = unique("ent")
    with services.tx() as session:
        create_borrower_account(
            session, services.authz, username=username, real_name="王五", password=PASSWORD, subject_id=sid
        )
    return ident, sid, username


def _ledger_size(services: Services) -> int:
    with services.read() as session:
        return int(session.scalar(select(func.count()).select_from(LedgerEntryRow)) or 0)


def test_a_borrower_reads_its_own_report_as_json_and_pdf(client: TestClient, services: Services) -> None:
    ident, _, username = _borrower(services)
    token = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD}).json()
    h = {"Authorization": f"Bearer {token['access_token']}"}
    before = _ledger_size(services)
    r = client.get("/api/v1/me/credit-report", headers=h)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["subject"]["identifier"][-4:] == ident[-4:] and report["basis"] == "own_information"
    ratings = [
        rec["fields"].get("rating")
        for c in report["categories"]
        if c["code"] == "tax_rating"
        for rec in c["records"]
    ]
    assert ratings == ["B"]
    pdf = client.get("/api/v1/me/credit-report?format=pdf", headers=h)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert _ledger_size(services) == before  # nothing disclosed to anyone else
    verified = client.get("/api/v1/free/reports/verify", params={"sha256": r.headers["X-Report-Sha256"]})
    assert verified.status_code == 200, verified.text


def test_a_borrower_reads_its_own_report_in_the_browser(client: TestClient, services: Services) -> None:
    _, _, username = _borrower(services)
    client.cookies.clear()
    login = web_login(client, username, PASSWORD)
    assert login.status_code == 303, login.text
    page = client.get("/web/borrower/credit-report")
    assert page.status_code == 200 and "CR" in page.text
    pdf = client.get("/web/borrower/credit-report?format=pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_institutions_do_not_get_a_report_without_consent_through_this_route(
    client: TestClient, services: Services
) -> None:
    bank = new_institution(services, "bank")
    assert client.get("/api/v1/me/credit-report", headers=auth(client, bank)).status_code == 403
