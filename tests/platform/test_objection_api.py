"""Objections over HTTP: the borrower files and follows, the operator checks, the provider answers,
the regulator sees every objection with its deadlines."""

from __future__ import annotations

from fincredit.platform.identity.accounts import create_borrower_account
from fincredit.platform.testing.plugin import auth, new_institution, unique

from .test_objection_workflow import make_record


def test_a_borrower_files_an_objection_and_follows_it_to_the_providers_answer(services, client) -> None:  # type: ignore[no-untyped-def]
    provider = new_institution(services, "data_provider")
    operator = new_institution(services, "platform_operator")
    regulator = new_institution(services, "regulator")
    subject_id, record_id = make_record(services, provider.org_id, {"penalty_amount": 800.0})
    username, password = unique("borrower"), "correct horse battery"
    with services.tx() as session:
        create_borrower_account(
            session,
            services.authz,
            username=username,
            real_name="王五",
            password=password,
            subject_id=subject_id,
        )
    token = client.post("/api/v1/auth/login", json={"username": username, "password": password}).json()
    me = {"Authorization": f"Bearer {token['access_token']}"}

    mine = client.get("/api/v1/me/objections/records", headers=me).json()
    assert [(r["record_id"], r["under_objection"]) for r in mine] == [(record_id, False)]

    filed = client.post(
        "/api/v1/me/objections", headers=me, json={"record_id": record_id, "reason": "已缴清"}
    )
    assert filed.status_code == 201, filed.text
    objection = filed.json()
    assert (
        objection["status"] == "platform_review"
        and objection["current_deadline"] == objection["platform_due"]
    )
    assert client.get("/api/v1/me/objections", headers=me).json()[0]["id"] == objection["id"]
    [shown] = client.get("/api/v1/me/objections/records", headers=me).json()
    assert shown["under_objection"] and shown["objection"]["deadline"] == objection["platform_due"]

    other = client.post("/api/v1/me/objections", headers=me, json={"record_id": record_id, "reason": "again"})
    assert other.status_code == 409 and other.json()["type"] == "/problems/objection-state"

    bank = new_institution(services, "bank")
    assert client.get("/api/v1/objections", headers=auth(client, bank)).status_code == 403
    path = f"/api/v1/objections/{objection['id']}"
    checked = client.post(
        path + "/platform-check",
        headers=auth(client, operator),
        json={"processing_correct": True, "note": "ok"},
    )
    assert checked.status_code == 200 and checked.json()["status"] == "provider_review"

    provider_auth = auth(client, provider)
    waiting = client.get(
        "/api/v1/provider/objections", headers=provider_auth, params={"status": "provider_review"}
    )
    assert [o["id"] for o in waiting.json()] == [objection["id"]]
    too_long = client.post(
        f"/api/v1/provider/objections/{objection['id']}/extension",
        headers=provider_auth,
        json={"days": 20, "reason": "x"},
    )
    assert too_long.status_code == 422
    answered = client.post(
        f"/api/v1/provider/objections/{objection['id']}/answer",
        headers=provider_auth,
        json={"correct": True, "note": "已缴清，更正", "corrected_data": {"penalty_amount": 0.0}},
    )
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "corrected"

    [corrected] = client.get("/api/v1/me/objections/records", headers=me).json()
    assert corrected["record_id"] == answered.json()["corrected_record_id"] and corrected["version"] == 2
    assert not corrected["under_objection"] and corrected["data"]["penalty_amount"] == 0.0

    mine = client.get(f"/api/v1/me/objections/{objection['id']}", headers=me).json()
    assert [e["step"] for e in mine["events"]] == ["filed", "referred_to_provider", "provider_corrected"]
    listed = client.get(
        "/api/v1/objections", headers=auth(client, regulator), params={"status": "corrected"}
    ).json()
    assert objection["id"] in [o["id"] for o in listed]
