"""A district team targets boards at its own district only: the district is the division code in its
organisation's unified social credit code (the district government that registered it), and both the
board's region and its population rule must stay inside it."""

from __future__ import annotations

import random
import uuid

import pytest
from fastapi.testclient import TestClient

from fincredit.consent.identifiers import generate_uscc
from fincredit.platform.core.services import Services
from fincredit.platform.identity.accounts import (
    create_institution_account,
    create_organisation,
    generate_key_pair,
    register_key,
)
from fincredit.platform.testing.plugin import Institution, auth, new_institution, unique

YINZHOU, FENGHUA = "330212", "330213"


@pytest.fixture(autouse=True)
def _no_push_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINCREDIT_PUSH_WORKER", "0")


def _district_team(services: Services, district: str) -> Institution:
    org_id = unique("district-team")
    uscc = generate_uscc(random.Random(uuid.uuid4().int), district, authority="1", category="1")
    private_pem, public_pem = generate_key_pair()
    with services.tx() as session:
        create_organisation(
            session, org_id=org_id, kind="district_team", name="鄞州区融资服务专班", uscc=uscc
        )
        account = create_institution_account(
            session,
            services.authz,
            org_id=org_id,
            username=unique("user"),
            real_name="孙专班",
            stated_use="t",
        )
        key = register_key(session, account.id, public_pem)
        return Institution(org_id, account.id, key.kid, private_pem)


def _board(region: str, rule_region: str) -> dict[str, object]:
    return {
        "title": f"科创企业{uuid.uuid4().hex[:6]}",
        "description": "专项融资",
        "theme": "tech",
        "region": region,
        "rules": {"all": [{"fact": "region", "op": "prefix", "value": rule_region}]},
    }


def test_a_district_team_may_target_only_its_own_district(client: TestClient, services: Services) -> None:
    h = auth(client, _district_team(services, YINZHOU))
    elsewhere = client.post("/api/v1/boards", headers=h, json=_board(FENGHUA, FENGHUA))
    assert elsewhere.status_code == 403 and FENGHUA in elsewhere.json()["detail"], elsewhere.text
    sneaky = client.post("/api/v1/boards", headers=h, json=_board(YINZHOU, "3302"))  # the whole city
    assert sneaky.status_code == 403, sneaky.text
    own = client.post("/api/v1/boards", headers=h, json=_board(YINZHOU, YINZHOU))
    assert own.status_code == 201, own.text
    moved = client.patch(f"/api/v1/boards/{own.json()['id']}", headers=h, json={"region": FENGHUA})
    assert moved.status_code == 403, moved.text


def test_a_district_team_is_registered_with_the_credit_code_that_names_its_district(
    client: TestClient, services: Services
) -> None:
    refused = client.post(
        "/api/v1/organisations",
        headers=auth(client, new_institution(services, "platform_operator")),
        json={"id": unique("district-team"), "kind": "district_team", "name": "奉化区融资服务专班"},
    )
    assert refused.status_code == 422 and "credit code" in refused.json()["detail"], refused.text


def test_a_district_team_without_a_code_on_record_opens_no_board(
    client: TestClient, services: Services
) -> None:
    from fincredit.platform.core.db import Organisation

    team = _district_team(services, YINZHOU)
    with services.tx() as session:  # a team registered before codes were required
        org = session.get(Organisation, team.org_id)
        assert org is not None
        org.uscc = None
    refused = client.post("/api/v1/boards", headers=auth(client, team), json=_board(FENGHUA, FENGHUA))
    assert refused.status_code == 403 and "credit code" in refused.json()["detail"], refused.text
