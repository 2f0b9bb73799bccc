"""Consents over HTTP: a bank requests, the borrower approves / pauses / resumes / revokes (one call
each), illegal transitions are 409 problems, nobody acts on another subject's consent, receipts verify
with the platform key, and the bank's check says allowed or refused without ledgering anything."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from fincredit.consent import ReceiptError, verify_receipt
from fincredit.consent.identifiers import generate_uscc
from fincredit.platform.identity.accounts import create_borrower_account
from fincredit.platform.subjects import register_subject
from fincredit.platform.testing.plugin import auth, new_institution, unique

PASSWORD = "correct horse battery"


@dataclass
class Borrower:
    identifier: str
    subject_id: int
    headers: dict[str, str]


def new_borrower(client, services) -> Borrower:  # type: ignore[no-untyped-def]
    code = generate_uscc(random.Random(uuid.uuid4().int), "330212")
    username = unique("borrower")
    with services.tx() as session:
        subject = register_subject(session, services.keyring, code, f"宁波{username}有限公司")
        create_borrower_account(
            session,
            services.authz,
            username=username,
            real_name="王法人",
            password=PASSWORD,
            subject_id=subject.id,
        )
        subject_id = subject.id
    r = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return Borrower(code, subject_id, {"Authorization": f"Bearer {r.json()['access_token']}"})


def consent_request(identifier: str, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "identifier": identifier,
        "purpose": "loan_application_assessment",
        "scopes": ["tax", "court.judgment"],
        "modes": ["query", "report"],
        "valid_until": (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat(),
        "fetch_type": "PERIODIC",
        "frequency": {"value": 10, "unit": "DAY"},
        "data_life": {"value": 1, "unit": "YEAR"},
    }
    body.update(overrides)
    return body


@pytest.fixture
def bank(client, services):  # type: ignore[no-untyped-def]
    inst = new_institution(services, "bank")
    return inst, auth(client, inst)


def test_request_approve_revoke_over_http(client, services, bank) -> None:  # type: ignore[no-untyped-def]
    inst, bank_h = bank
    borrower = new_borrower(client, services)
    r = client.post("/api/v1/consents", headers=bank_h, json=consent_request(borrower.identifier))
    assert r.status_code == 201, r.text
    consent = r.json()
    assert consent["state"] == "PENDING" and consent["grantee"] == inst.org_id
    assert consent["subject"] != borrower.identifier and "*" in consent["subject"]  # masked for the bank

    mine = client.get("/api/v1/me/consents", headers=borrower.headers).json()["items"]
    assert [c["id"] for c in mine] == [consent["id"]]

    approved = client.post(f"/api/v1/me/consents/{consent['id']}/approve", headers=borrower.headers)
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "ACTIVE"
    assert approved.json()["approved_by_account"] and approved.json()["approved_at"]

    held = client.get("/api/v1/consents", headers=bank_h, params={"state": "ACTIVE"}).json()["items"]
    assert consent["id"] in [c["id"] for c in held]

    revoked = client.post(f"/api/v1/me/consents/{consent['id']}/revoke", headers=borrower.headers)
    assert revoked.status_code == 200 and revoked.json()["state"] == "REVOKED"
    assert client.get(f"/api/v1/consents/{consent['id']}", headers=bank_h).json()["state"] == "REVOKED"


def test_illegal_transitions_are_409_problems(client, services, bank) -> None:  # type: ignore[no-untyped-def]
    _, bank_h = bank
    borrower = new_borrower(client, services)
    cid = client.post("/api/v1/consents", headers=bank_h, json=consent_request(borrower.identifier)).json()[
        "id"
    ]
    for action in ("pause", "resume", "revoke"):  # a PENDING consent can only be approved or rejected
        r = client.post(f"/api/v1/me/consents/{cid}/{action}", headers=borrower.headers)
        assert r.status_code == 409, (action, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"] == "/problems/illegal-consent-transition"
    assert client.post(f"/api/v1/me/consents/{cid}/reject", headers=borrower.headers).status_code == 200
    again = client.post(f"/api/v1/me/consents/{cid}/approve", headers=borrower.headers)
    assert again.status_code == 409 and again.json()["state"] == "REJECTED"


def test_pause_and_resume(client, services, bank) -> None:  # type: ignore[no-untyped-def]
    _, bank_h = bank
    borrower = new_borrower(client, services)
    cid = client.post("/api/v1/consents", headers=bank_h, json=consent_request(borrower.identifier)).json()[
        "id"
    ]
    client.post(f"/api/v1/me/consents/{cid}/approve", headers=borrower.headers)
    check = {"identifier": borrower.identifier, "scopes": ["tax"], "purpose": "loan_application_assessment"}
    paused = client.post(f"/api/v1/me/consents/{cid}/pause", headers=borrower.headers)
    assert paused.json()["state"] == "PAUSED"
    r = client.post("/api/v1/consents/check", headers=bank_h, json={**check, "mode": "query"})
    assert r.json() == {
        "allowed": False,
        "basis": None,
        "consent_id": cid,
        "remaining_in_period": None,
        "reason": "paused",
        "message": r.json()["message"],
    }
    client.post(f"/api/v1/me/consents/{cid}/resume", headers=borrower.headers)
    r = client.post("/api/v1/consents/check", headers=bank_h, json={**check, "mode": "query"})
    assert r.json()["allowed"] is True and r.json()["consent_id"] == cid


def test_a_borrower_cannot_touch_another_subjects_consent(client, services, bank) -> None:  # type: ignore[no-untyped-def]
    _, bank_h = bank
    owner, other = new_borrower(client, services), new_borrower(client, services)
    cid = client.post("/api/v1/consents", headers=bank_h, json=consent_request(owner.identifier)).json()["id"]
    for action in ("approve", "reject"):
        r = client.post(f"/api/v1/me/consents/{cid}/{action}", headers=other.headers)
        assert r.status_code == 404, r.text
    assert client.get(f"/api/v1/me/consents/{cid}/receipt", headers=other.headers).status_code == 404
    assert client.get("/api/v1/me/consents", headers=other.headers).json()["items"] == []
    # and a bank cannot act as a borrower, nor see another bank's consent
    assert client.post(f"/api/v1/me/consents/{cid}/approve", headers=bank_h).status_code == 403
    rival = new_institution(services, "bank")
    assert client.get(f"/api/v1/consents/{cid}", headers=auth(client, rival)).status_code == 404
    assert client.get(f"/api/v1/me/consents/{cid}", headers=owner.headers).json()["state"] == "PENDING"


def test_receipt_verifies_with_the_platform_public_key(client, services, bank) -> None:  # type: ignore[no-untyped-def]
    inst, bank_h = bank
    borrower = new_borrower(client, services)
    cid = client.post("/api/v1/consents", headers=bank_h, json=consent_request(borrower.identifier)).json()[
        "id"
    ]
    client.post(f"/api/v1/me/consents/{cid}/approve", headers=borrower.headers)
    r = client.get(f"/api/v1/me/consents/{cid}/receipt", headers=borrower.headers)
    assert r.status_code == 200
    key = client.get("/api/v1/ledger/public-key").json()
    public_key = load_pem_public_key(key["public_key_pem"].encode())
    receipt = verify_receipt(r.json()["jws"], public_key)  # type: ignore[arg-type]
    assert receipt == r.json()["receipt"]
    assert receipt["record_id"] == cid and receipt["consent_status"] == "ACTIVE"
    assert receipt["pii_principal_id"] != borrower.identifier  # the receipt carries the masked code
    assert receipt["purposes"][0]["pii_recipients"][0]["id"] == inst.org_id
    tampered = r.json()["jws"].split(".")
    tampered[1] = tampered[1][:-2] + ("AA" if tampered[1][-2:] != "AA" else "BB")
    with pytest.raises(ReceiptError):
        verify_receipt(".".join(tampered), public_key)  # type: ignore[arg-type]


def test_invalid_consent_requests_are_422(client, services, bank) -> None:  # type: ignore[no-untyped-def]
    _, bank_h = bank
    borrower = new_borrower(client, services)
    # model training is not a mode of loan assessment: a borrower is never asked for more than the purpose
    r = client.post(
        "/api/v1/consents",
        headers=bank_h,
        json=consent_request(borrower.identifier, modes=["model_training"]),
    )
    assert r.status_code == 422 and "does not allow modes" in r.json()["detail"]
    r = client.post(
        "/api/v1/consents", headers=bank_h, json=consent_request(borrower.identifier, fetch_type="ONETIME")
    )
    assert r.status_code == 422 and "ONETIME" in r.json()["detail"]


def test_checks_are_not_ledgered(client, services, bank) -> None:  # type: ignore[no-untyped-def]
    from fincredit.platform.consents import read_size

    _, bank_h = bank
    borrower = new_borrower(client, services)
    check = {
        "identifier": borrower.identifier,
        "scopes": ["tax"],
        "purpose": "credit_report",
        "mode": "report",
    }
    with services.read() as session:
        before = read_size(session)
    r = client.post("/api/v1/consents/check", headers=bank_h, json=check)
    assert r.json()["allowed"] is False and r.json()["reason"] == "no_consent"
    with services.read() as session:
        assert read_size(session) == before
