"""A refused disclosure names the consent's state: revoked, expired, paused or exhausted, even when the
request also asks for more than the consent ever covered (the status is the stronger reason)."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from fincredit.consent import ConsentEvent, FetchType
from fincredit.platform.consents import record_event
from fincredit.platform.core.services import Services
from fincredit.platform.testing.plugin import auth, new_institution
from fincredit.platform.testing.seed import grant_consent, load_records, new_enterprise


@pytest.fixture(autouse=True)
def _no_push_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINCREDIT_PUSH_WORKER", "0")


def _apply(services: Services, consent_id: str, event: ConsentEvent) -> None:
    with services.tx() as session:
        record_event(session, services, consent_id=consent_id, event=event, actor="test")


@pytest.mark.parametrize("case", ["revoked", "expired", "paused", "exhausted"])
def test_a_refusal_names_the_consent_state_even_for_a_wider_request(
    client: TestClient, services: Services, case: str
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
    cid = grant_consent(
        services,
        sid,
        bank.org_id,
        scopes=["tax_rating"],
        fetch=FetchType.ONETIME if case == "exhausted" else FetchType.PERIODIC,
        valid_until=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1) if case == "expired" else None,
    )
    narrow = {"identifier": ident, "items": [{"code": "tax_rating"}]}
    if case == "revoked":
        _apply(services, cid, ConsentEvent.REVOKE)
    if case == "paused":
        _apply(services, cid, ConsentEvent.PAUSE)
    if case == "exhausted":
        assert client.post("/api/v1/free/query", headers=h, json=narrow).status_code == 200
    wider = {"identifier": ident, "items": [{"code": "tax_rating"}, {"code": "admin_penalty"}]}
    for body in (narrow, wider):
        r = client.post("/api/v1/free/query", headers=h, json=body)
        assert r.status_code == 403, r.text
        assert r.json()["reason"] == case, (body, r.json())
