"""Government data sharing answers about the subject as it stands: verification compares with the current
record, not any record still on file; agreements take their validity as instants or as days in China."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fincredit.platform.catalog import get_item
from fincredit.platform.core.services import Services
from fincredit.platform.identity.accounts import create_institution_account, generate_key_pair, register_key
from fincredit.platform.sharing.tables import SharingAgreement
from fincredit.platform.testing.plugin import Institution, auth, new_institution, unique
from fincredit.platform.testing.seed import load_records, new_enterprise

PURPOSE = "税收征管协查"
CHINA = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture(autouse=True)
def _no_push_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINCREDIT_PUSH_WORKER", "0")


def _account_in(services: Services, org_id: str) -> Institution:
    private_pem, public_pem = generate_key_pair()
    with services.tx() as session:
        account = create_institution_account(
            session,
            services.authz,
            org_id=org_id,
            username=unique("user"),
            real_name="审批员",
            stated_use="t",
        )
        key = register_key(session, account.id, public_pem)
        return Institution(org_id, account.id, key.kid, private_pem)


def _agreement(client: TestClient, operator: dict[str, str], department: str, **validity: str) -> Any:
    now = dt.datetime.now(dt.UTC)
    body = {
        "department_org_id": department,
        "items": ["tax_rating"],
        "purpose": PURPOSE,
        "modes": ["verification"],
        "valid_from": (now - dt.timedelta(days=1)).isoformat(),
        "valid_until": (now + dt.timedelta(days=365)).isoformat(),
        **validity,
    }
    return client.post("/api/v1/gov-sharing/agreements", headers=operator, json=body)


def test_verification_compares_with_the_subjects_current_record_only(
    client: TestClient, services: Services
) -> None:
    ident, sid = new_enterprise(services)
    load_records(
        services,
        "tax_rating",
        ident,
        [
            {
                "provider_record_id": f"T24-{sid}",
                "rating_year": 2023,
                "rating": "A",
                "rated_date": "2024-04-01",
            },
            {
                "provider_record_id": f"T25-{sid}",
                "rating_year": 2024,
                "rating": "B",
                "rated_date": "2025-04-01",
            },
        ],
    )
    operator = auth(client, new_institution(services, "platform_operator"))
    dept = new_institution(services, "data_provider")
    agreement = _agreement(client, operator, dept.org_id)
    assert agreement.status_code == 201, agreement.text
    with services.read() as session:
        provider = get_item(session, "tax_rating").provider_org_id
    approve = client.post(
        f"/api/v1/gov-sharing/agreements/{agreement.json()['id']}/approvals",
        headers=auth(client, _account_in(services, provider)),
        json={"item": "tax_rating", "note": "同意"},
    )
    assert approve.status_code == 201, approve.text
    h = auth(client, dept)
    ask = {
        "agreement_id": agreement.json()["id"],
        "purpose": PURPOSE,
        "identifier": ident,
        "item": "tax_rating",
    }

    def answer(**more: str) -> bool:
        r = client.post("/api/v1/gov-sharing/verify", headers=h, json={**ask, **more})
        assert r.status_code == 200, r.text
        return bool(r.json()["answer"])

    assert answer() is True
    assert answer(field="rating", value="B") is True
    assert answer(field="rating", value="A") is False  # last year's A is on file, but B is current


def test_a_date_only_validity_is_a_day_in_china(client: TestClient, services: Services) -> None:
    operator = auth(client, new_institution(services, "platform_operator"))
    dept = new_institution(services, "data_provider")
    r = _agreement(client, operator, dept.org_id, valid_from="2026-12-01", valid_until="2027-11-30")
    assert r.status_code == 201, r.text
    with services.read() as session:
        row = session.get(SharingAgreement, r.json()["id"])
        assert row is not None
        start, end = row.valid_from, row.valid_until
    assert start.astimezone(CHINA) == dt.datetime(2026, 12, 1, tzinfo=CHINA)
    assert end.astimezone(CHINA) == dt.datetime(2027, 12, 1, tzinfo=CHINA)  # through 30 November


@pytest.mark.parametrize("bad", ["2026-12-01T00:00:00", "2026-02-30", "tomorrow"])
def test_a_validity_without_a_zone_or_not_a_date_is_refused_with_422(
    client: TestClient, services: Services, bad: str
) -> None:
    operator = auth(client, new_institution(services, "platform_operator"))
    dept = new_institution(services, "data_provider")
    r = _agreement(client, operator, dept.org_id, valid_from=bad)
    assert r.status_code == 422 and r.json()["type"] == "/problems/invalid-input", r.text
