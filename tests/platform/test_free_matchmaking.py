"""Financing matchmaking: banks publish products with JSON eligibility rules (a safe language, no
eval), enterprises publish needs; the platform evaluates the rules on its own data only where the
enterprise's matchmaking consent covers the product's bank, ranks the matches, gives banks leads
(ledgered disclosures), shows enterprises their matches, and records outcomes for statistics."""

from __future__ import annotations

import random
import uuid

import pytest

from fincredit.consent.identifiers import generate_resident_id
from fincredit.platform.consents.tables import LedgerEntryRow
from fincredit.platform.free import evaluate, items_used, validate
from fincredit.platform.free.errors import RuleInvalid
from fincredit.platform.identity.accounts import create_borrower_account
from fincredit.platform.testing.plugin import auth, new_institution, unique
from fincredit.platform.testing.seed import grant_consent, load_records, new_enterprise

PASSWORD = "correct horse battery"
RULES = {
    "all": [
        {"fact": "region", "op": "prefix", "value": "3302"},
        {"fact": "years_in_business", "op": "gte", "value": 3},
        {"fact": "count.dishonest_debtor", "op": "eq", "value": 0},
        {
            "any": [
                {"fact": "tax_rating", "op": "in", "value": ["A", "B"]},
                {"fact": "industry", "op": "eq", "value": "C"},
            ]
        },
    ]
}
SCOPES = ["market_registration", "tax_rating", "dishonest_debtor"]


@pytest.fixture(autouse=True)
def _no_push_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINCREDIT_PUSH_WORKER", "0")


def test_rules_are_validated_and_evaluated_without_eval() -> None:
    validate(RULES)
    assert items_used(RULES) == {"market_registration", "tax_rating", "dishonest_debtor"}
    facts = {"region": "330203", "years_in_business": 5.2, "tax_rating": "B", "industry": "F"}
    assert evaluate(RULES, facts)
    assert not evaluate(RULES, {**facts, "tax_rating": "D"})
    assert not evaluate(RULES, {**facts, "count.dishonest_debtor": 1})
    assert not evaluate(RULES, {k: v for k, v in facts.items() if k != "years_in_business"})  # missing fails
    for bad in (
        {"fact": "__import__('os')", "op": "eq", "value": 1},
        {"fact": "region", "op": "exec", "value": 1},
        {"all": []},
        {"fact": "region", "op": "in", "value": "3302"},
        "region == '3302'",
        {
            "not": {
                "not": {
                    "not": {
                        "not": {"not": {"not": {"not": {"not": {"not": {"fact": "region", "op": "exists"}}}}}}
                    }
                }
            }
        },
    ):
        with pytest.raises(RuleInvalid):
            validate(bad)


def _enterprise(client, services, *, tax: str, since: str = "2018-05-01"):  # type: ignore[no-untyped-def]
    ident, sid = new_enterprise(services, region="330203")
    load_records(
        services,
        "market_registration",
        ident,
        [
            {
                "provider_record_id": f"R-{sid}",
                "registration_date": since,
                "enterprise_type": "有限责任公司",
                "registered_capital": 500,
                "industry_code": "F",
                "region_code": "330203",
                "status": "存续",
                "employees": 30,
                "legal_rep_name": "王五",
                "legal_rep_id": generate_resident_id(random.Random(sid)),
                "address": "宁波市海曙区中山西路1号",
            }
        ],
    )
    load_records(
        services,
        "tax_rating",
        ident,
        [{"provider_record_id": f"T-{sid}", "rating_year": 2025, "rating": tax, "rated_date": "2025-04-01"}],
    )
    username = unique("ent")
    with services.tx() as session:
        create_borrower_account(
            session, services.authz, username=username, real_name="王五", password=PASSWORD, subject_id=sid
        )
    token = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD}).json()[
        "access_token"
    ]
    return ident, sid, {"Authorization": f"Bearer {token}"}


def test_needs_match_eligible_products_under_consent_ranked_with_outcomes(client, services) -> None:  # type: ignore[no-untyped-def]
    cheap, dear = new_institution(services, "bank"), new_institution(services, "bank")
    ch, dh = auth(client, cheap), auth(client, dear)
    tag = uuid.uuid4().hex[:6]
    product = {
        "amount_min": 100_000 + 1,
        "amount_max": 3_000_000,
        "term_min": 6,
        "term_max": 36,
        "rules": RULES,
    }
    p_cheap = client.post(
        "/api/v1/free/matchmaking/products",
        headers=ch,
        json={**product, "name": f"普惠贷{tag}", "rate_min": 3.2, "rate_max": 4.5},
    )
    p_dear = client.post(
        "/api/v1/free/matchmaking/products",
        headers=dh,
        json={**product, "name": f"经营贷{tag}", "rate_min": 4.1, "rate_max": 6.0},
    )
    assert p_cheap.status_code == 201 and p_dear.status_code == 201, p_cheap.text
    bad_rule = client.post(
        "/api/v1/free/matchmaking/products",
        headers=ch,
        json={**product, "name": "x", "rate_min": 1, "rate_max": 2, "rules": {"fact": "x.y", "op": "eval"}},
    )
    assert bad_rule.status_code == 422
    good_id, good_sid, good_h = _enterprise(client, services, tax="A")
    for bank in (cheap, dear):
        grant_consent(
            services, good_sid, bank.org_id, purpose="financing_matchmaking", scopes=SCOPES, modes=["query"]
        )
    _, young_sid, young_h = _enterprise(client, services, tax="A", since="2025-01-01")
    grant_consent(
        services, young_sid, cheap.org_id, purpose="financing_matchmaking", scopes=SCOPES, modes=["query"]
    )
    _, _, silent_h = _enterprise(client, services, tax="A")  # eligible, but consents to nobody

    need = {"amount": 1_000_000, "term_months": 12, "use_of_funds": "采购原材料"}
    good = client.post("/api/v1/free/matchmaking/needs", headers=good_h, json=need).json()
    ours = [m for m in good["matches"] if m["product_id"] in (p_cheap.json()["id"], p_dear.json()["id"])]
    assert [m["bank"] for m in ours] == [cheap.org_id, dear.org_id]  # cheaper first
    assert ours[0]["score"] > ours[1]["score"]
    young = client.post("/api/v1/free/matchmaking/needs", headers=young_h, json=need).json()
    assert not [m for m in young["matches"] if m["bank"] == cheap.org_id]  # under 3 years in business
    silent = client.post("/api/v1/free/matchmaking/needs", headers=silent_h, json=need).json()
    assert not [m for m in silent["matches"] if m["bank"] in (cheap.org_id, dear.org_id)]

    leads = client.get("/api/v1/free/matchmaking/leads", headers=ch).json()
    assert [lead["need_id"] for lead in leads] == [good["id"]]
    assert leads[0]["enterprise"]["identifier"] != good_id
    with services.read() as session:
        ledgered = (
            session.query(LedgerEntryRow)
            .filter_by(grantee_org_id=cheap.org_id, purpose="financing_matchmaking")
            .all()
        )
    # Beside the seeded consents' own request and grant entries: one disclosure, the lead.
    assert [e.type for e in ledgered if not e.type.startswith("consent_")] == ["disclosure"]
    done = client.post(
        f"/api/v1/free/matchmaking/leads/{leads[0]['lead_id']}/outcome",
        headers=ch,
        json={"outcome": "granted"},
    )
    assert done.status_code == 200
    other = client.post(
        f"/api/v1/free/matchmaking/leads/{leads[0]['lead_id']}/outcome",
        headers=dh,
        json={"outcome": "granted"},
    )
    assert other.status_code == 404  # another bank's lead
    assert client.get("/api/v1/free/matchmaking/stats", headers=ch).json() == {
        "leads": 1,
        "by_outcome": {"granted": 1},
        "grant_rate": 1.0,
    }
    seen = client.get(f"/api/v1/free/matchmaking/needs/{good['id']}/matches", headers=good_h).json()
    assert [m["outcome"] for m in seen if m["bank"] == cheap.org_id] == ["granted"]
    assert (
        client.get(f"/api/v1/free/matchmaking/needs/{good['id']}/matches", headers=young_h).status_code == 404
    )
    assert client.post("/api/v1/free/matchmaking/needs", headers=ch, json=need).status_code == 403
