"""Thematic boards (G§13): a district team opens a board over a target population, only that team edits
it (403 for another team), banks attach products, the board feeds its population's financing needs into
matchmaking (each lead still needs the enterprise's consent), and the public page shows hand-countable
statistics without personal data."""

from __future__ import annotations

import uuid

import pytest

from fincredit.platform.free.tables import FinancingNeed
from fincredit.platform.testing.plugin import auth, new_institution
from fincredit.platform.testing.seed import grant_consent, new_enterprise

REGION = "330282"  # 慈溪市: no other test's enterprises live there


@pytest.fixture(autouse=True)
def _no_push_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINCREDIT_PUSH_WORKER", "0")


def _need(services, sid: int, amount: float) -> str:  # type: ignore[no-untyped-def]
    with services.tx() as session:
        need = FinancingNeed(
            id=f"need_{uuid.uuid4().hex[:16]}",
            subject_id=sid,
            account_id="acc_test",
            amount=amount,
            term_months=12,
            use_of_funds="扩大生产",
            status="open",
        )
        session.add(need)
        return need.id


def test_board_lifecycle_ownership_matchmaking_and_public_statistics(services, client) -> None:  # type: ignore[no-untyped-def]
    team = new_institution(services, "district_team", district=REGION)
    other_team = new_institution(services, "sector_team")
    bank = new_institution(services, "bank")
    th, oh, bh = auth(client, team), auth(client, other_team), auth(client, bank)
    tag = uuid.uuid4().hex[:6]
    r = client.post(
        "/api/v1/boards",
        headers=th,
        json={
            "title": f"慈溪家电制造企业{tag}",
            "description": "面向慈溪家电产业集群的专项融资",
            "theme": "manufacturing",
            "region": REGION,
            "rules": {
                "all": [
                    {"fact": "region", "op": "eq", "value": REGION},
                    {"fact": "kind", "op": "eq", "value": "legal"},
                ]
            },
        },
    )
    assert r.status_code == 201, r.text
    board = r.json()
    assert board["status"] == "draft"
    assert client.post("/api/v1/boards", headers=bh, json={**board, "rules": {}}).status_code in (403, 422)
    foreign = client.patch(f"/api/v1/boards/{board['id']}", headers=oh, json={"title": "hijacked"})
    assert foreign.status_code == 403
    assert client.post(f"/api/v1/boards/{board['id']}/matchmaking", headers=oh).status_code == 403
    assert client.get(f"/public/boards/{board['id']}").status_code == 404  # drafts are not public
    assert (
        client.patch(f"/api/v1/boards/{board['id']}", headers=th, json={"status": "published"}).status_code
        == 200
    )

    product = client.post(
        "/api/v1/free/matchmaking/products",
        headers=bh,
        json={
            "name": f"家电贷{tag}",
            "amount_min": 100_000,
            "amount_max": 5_000_000,
            "term_min": 6,
            "term_max": 36,
            "rate_min": 3.5,
            "rate_max": 4.8,
            "rules": {"fact": "region", "op": "prefix", "value": "3302"},
        },
    ).json()
    attached = client.post(
        f"/api/v1/boards/{board['id']}/products", headers=bh, json={"product_id": product["id"]}
    )
    assert attached.status_code == 201, attached.text

    # Hand count: three enterprises in the population with needs (one without consent), one outside.
    inside = [new_enterprise(services, region=REGION) for _ in range(3)]
    outside = new_enterprise(services, region="330203")
    for _, sid in (*inside[:2], outside):
        grant_consent(
            services,
            sid,
            bank.org_id,
            purpose="financing_matchmaking",
            scopes=["market_registration"],
            modes=["query"],
        )
    needs = [
        _need(services, sid, amount)
        for (_, sid), amount in zip(inside, (1_000_000, 2_000_000, 500_000), strict=True)
    ]
    _need(services, outside[1], 800_000)

    fed = client.post(f"/api/v1/boards/{board['id']}/matchmaking", headers=th)
    assert fed.status_code == 200, fed.text
    assert fed.json()["newly_reached_needs"] == 3
    assert (
        client.post(f"/api/v1/boards/{board['id']}/matchmaking", headers=th).json()["newly_reached_needs"]
        == 0
    )

    leads = [
        lead
        for lead in client.get("/api/v1/free/matchmaking/leads", headers=bh).json()
        if lead["product_id"] == product["id"]
    ]
    assert sorted(lead["need_id"] for lead in leads) == sorted(needs[:2])  # no consent, no lead
    granted = next(lead for lead in leads if lead["need_id"] == needs[0])
    ok = client.post(
        f"/api/v1/free/matchmaking/leads/{granted['lead_id']}/outcome",
        headers=bh,
        json={"outcome": "granted"},
    )
    assert ok.status_code == 200, ok.text

    page = client.get(f"/public/boards/{board['id']}")
    assert page.status_code == 200
    assert page.json()["statistics"] == {
        "enterprises_reached": 3,
        "applications": 2,
        "loans_granted": 1,
        "amount_granted": 1_000_000.0,
    }
    assert [p["id"] for p in page.json()["products"]] == [product["id"]]
    for code, _ in (*inside, outside):
        assert code not in page.text
    assert board["id"] in [b["id"] for b in client.get("/public/boards").json()]
