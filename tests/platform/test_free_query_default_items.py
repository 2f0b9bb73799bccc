"""A free query without an item list returns the items the caller's consent covers (and the public ones)
and lists the authorized items it does not cover, instead of refusing the whole query."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from fincredit.platform.core.services import Services
from fincredit.platform.testing.plugin import auth, new_institution
from fincredit.platform.testing.seed import grant_consent, load_records, new_enterprise


@pytest.fixture(autouse=True)
def _no_push_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINCREDIT_PUSH_WORKER", "0")


def test_a_query_without_items_returns_what_the_consent_covers_and_lists_the_rest(
    client: TestClient, services: Services
) -> None:
    ident, sid = new_enterprise(services)
    load_records(
        services,
        "tax_rating",
        ident,
        [{"provider_record_id": f"T-{sid}", "rating_year": 2025, "rating": "A", "rated_date": "2025-04-01"}],
    )
    bank = new_institution(services, "bank")
    h = auth(client, bank)
    grant_consent(services, sid, bank.org_id, scopes=["tax_rating"], modes=["query"])
    r = client.post("/api/v1/free/query", headers=h, json={"identifier": ident})
    assert r.status_code == 200, r.text
    body = r.json()
    codes = {i["code"] for i in body["items"]}
    assert {"tax_rating", "admin_penalty"} <= codes  # covered, and public
    assert "social_insurance_arrears" not in codes
    assert "social_insurance_arrears" in body["items_not_covered"]
    assert not {"tax_rating", "admin_penalty"} & set(body["items_not_covered"])


def test_without_any_covering_consent_the_query_is_refused_with_the_reason(
    client: TestClient, services: Services
) -> None:
    ident, _ = new_enterprise(services)
    bank = new_institution(services, "bank")
    r = client.post("/api/v1/free/query", headers=auth(client, bank), json={"identifier": ident})
    assert r.status_code == 403 and r.json()["reason"] == "no_consent", r.text
