"""API behaviour: problem+json errors, masking by entitlement, default-deny authorization, audit trail."""

from __future__ import annotations

import random
import uuid

from fincredit.consent.identifiers import generate_uscc
from fincredit.platform.testing.plugin import auth, new_institution


def _code() -> str:
    return generate_uscc(random.Random(uuid.uuid4().int), "330212")


def test_unknown_fields_are_refused_as_problem_json(client, services) -> None:  # type: ignore[no-untyped-def]
    provider = new_institution(services, "data_provider")
    r = client.post(
        "/api/v1/subjects",
        headers=auth(client, provider),
        json={"identifier": _code(), "name": "某公司", "colour": "red"},
    )
    assert r.status_code == 422
    body = r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert body["type"] == "/problems/invalid-input" and "colour" in body["detail"]


def test_a_check_character_mismatch_shows_expected_and_given_without_blaming_a_position(  # type: ignore[no-untyped-def]
    client, services
) -> None:
    provider = new_institution(services, "data_provider")
    code = _code()
    bad = code[:17] + ("0" if code[17] != "0" else "1")
    r = client.post(
        "/api/v1/subjects", headers=auth(client, provider), json={"identifier": bad, "name": "某公司"}
    )
    assert r.status_code == 422
    assert r.json()["type"] == "/problems/invalid-identifier"
    problem = r.json()
    assert "position" not in problem and "character 18" not in problem["detail"]
    assert "does not match its check character" in problem["detail"]
    assert problem["expected"] == code[17] and problem["given"] == bad[17]


def test_oversized_bodies_are_refused_before_the_handler(client, services) -> None:  # type: ignore[no-untyped-def]
    provider = new_institution(services, "data_provider")
    huge = {"identifier": _code(), "name": "x" * (services.settings.max_body_bytes + 10)}
    r = client.post("/api/v1/subjects", headers=auth(client, provider), json=huge)
    assert r.status_code == 413 and r.json()["type"] == "/problems/payload-too-large"


def test_unknown_routes_are_problem_json(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


def test_unexpected_errors_leak_no_trace(app, services) -> None:  # type: ignore[no-untyped-def]
    from fastapi import Depends
    from fastapi.testclient import TestClient

    from fincredit.platform.core.app import create_app
    from fincredit.platform.core.deps import public

    fresh = create_app(services=services)

    @fresh.get("/boom", dependencies=[Depends(public)])
    def boom() -> None:
        raise ZeroDivisionError("secret internal detail")

    with TestClient(fresh, raise_server_exceptions=False) as c:
        r = c.get("/boom")
    assert r.status_code == 500
    assert "secret" not in r.text and "Traceback" not in r.text
    assert r.json()["type"] == "/problems/internal-error"


def test_identifiers_are_masked_unless_the_caller_is_entitled(client, services) -> None:  # type: ignore[no-untyped-def]
    provider = new_institution(services, "data_provider")
    bank = new_institution(services, "bank")
    authority = new_institution(services, "credit_authority")
    code = _code()
    created = client.post(
        "/api/v1/subjects", headers=auth(client, provider), json={"identifier": code, "name": "甲"}
    )
    assert created.status_code == 201 and created.json()["masked"] is True
    as_bank = client.get(f"/api/v1/subjects/{code}", headers=auth(client, bank)).json()
    assert as_bank["identifier"] != code and as_bank["masked"] is True
    as_authority = client.get(f"/api/v1/subjects/{code}", headers=auth(client, authority)).json()
    assert as_authority["identifier"] == code and as_authority["masked"] is False


def test_default_deny_and_only_the_operator_grants(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    operator = new_institution(services, "platform_operator")
    bank_headers = auth(client, bank)
    # A bank may not register subjects, read the audit trail or change policies.
    assert (
        client.post(
            "/api/v1/subjects", headers=bank_headers, json={"identifier": _code(), "name": "x"}
        ).status_code
        == 403
    )
    assert client.get("/api/v1/audit-events", headers=bank_headers).status_code == 403
    grant = {"role": "bank", "resource": "audit", "action": "read"}
    refused = client.post("/api/v1/policies", headers=bank_headers, json=grant)
    assert refused.status_code == 403 and refused.json()["permission"] == "policies:write"
    # The operator grants audit:read to this bank's domain only.
    r = client.post("/api/v1/policies", headers=auth(client, operator), json={**grant, "domain": bank.org_id})
    assert r.status_code == 204
    assert client.get("/api/v1/audit-events", headers=bank_headers).status_code == 200
    other_bank = new_institution(services, "bank")
    assert client.get("/api/v1/audit-events", headers=auth(client, other_bank)).status_code == 403


def test_operator_creates_organisations_and_accounts(client, services) -> None:  # type: ignore[no-untyped-def]
    from fincredit.platform.identity.accounts import generate_key_pair
    from fincredit.platform.testing.plugin import unique

    operator = new_institution(services, "platform_operator")
    headers = auth(client, operator)
    org_id = unique("bank")
    r = client.post(
        "/api/v1/organisations", headers=headers, json={"id": org_id, "kind": "bank", "name": "新银行"}
    )
    assert r.status_code == 201
    _, public_pem = generate_key_pair()
    acc = client.post(
        f"/api/v1/organisations/{org_id}/accounts",
        headers=headers,
        json={
            "username": unique("u"),
            "real_name": "钱经理",
            "stated_use": "credit queries",
            "public_key_pem": public_pem,
        },
    )
    assert acc.status_code == 201 and acc.json()["org_id"] == org_id
    missing_name = client.post(
        f"/api/v1/organisations/{org_id}/accounts",
        headers=headers,
        json={"username": unique("u"), "real_name": "", "stated_use": "x"},
    )
    assert missing_name.status_code == 422


def test_every_api_operation_is_audited(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    regulator = new_institution(services, "regulator")
    bank_headers = auth(client, bank)
    client.get(f"/api/v1/subjects/{_code()}", headers=bank_headers)  # 404, touches no stored subject
    client.get("/api/v1/audit-events", headers=bank_headers)  # 403
    page = client.get(
        "/api/v1/audit-events", headers=auth(client, regulator), params={"account_id": bank.account_id}
    ).json()
    routes = {(e["route"], e["status"], e["outcome"]) for e in page["items"]}
    assert ("/api/v1/subjects/{identifier}", 404, "refused") in routes
    assert ("/api/v1/audit-events", 403, "refused") in routes
    assert all(e["org_id"] == bank.org_id for e in page["items"])
