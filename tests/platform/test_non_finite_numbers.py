"""Numbers that are not finite never enter the platform: Infinity, NaN and JSON numbers too large for a
float (``1e999999``) are refused with 422 in credit limits, prices and matchmaking amounts alike."""

from __future__ import annotations

import json
import uuid

import pytest
from fastapi.testclient import TestClient

from fincredit.platform.core.services import Services
from fincredit.platform.testing.plugin import auth, new_institution

NON_FINITE = ["1e999999", "Infinity", "-Infinity", "NaN"]


@pytest.mark.parametrize("value", NON_FINITE)
def test_a_credit_limit_must_be_a_finite_amount(client: TestClient, services: Services, value: str) -> None:
    operator = auth(client, new_institution(services, "platform_operator"))
    bank = new_institution(services, "bank")
    url = f"/api/v1/billing/credit-limits/{bank.org_id}"
    for body in (f'{{"monthly_limit": "{value}"}}', f'{{"monthly_limit": {value}}}'):
        r = client.put(url, content=body, headers={**operator, "Content-Type": "application/json"})
        assert r.status_code == 422, (body, r.status_code, r.text)
        assert r.json()["type"] == "/problems/invalid-input"
    assert client.put(url, json={"monthly_limit": "50000.00"}, headers=operator).status_code == 204


@pytest.mark.parametrize("field", ["amount_max", "amount_min", "rate_max"])
def test_matchmaking_products_refuse_non_finite_amounts(
    client: TestClient, services: Services, field: str
) -> None:
    bank = auth(client, new_institution(services, "bank"))
    product = {
        "name": f"经营贷{uuid.uuid4().hex[:6]}",
        "amount_min": 100_000,
        "amount_max": 3_000_000,
        "term_min": 6,
        "term_max": 36,
        "rate_min": 3.2,
        "rate_max": 4.5,
        "rules": {"fact": "region", "op": "prefix", "value": "3302"},
    }
    for value in NON_FINITE:
        body = json_with(product, field, value)
        r = client.post(
            "/api/v1/free/matchmaking/products",
            content=body,
            headers={**bank, "Content-Type": "application/json"},
        )
        assert r.status_code == 422, (field, value, r.text)


def json_with(obj: dict[str, object], field: str, token: str) -> str:
    """``obj`` as JSON with ``field`` set to a bare number token (Infinity, NaN as Python writes them)."""
    text = json.dumps({**obj, field: "__X__"}, ensure_ascii=False)
    return text.replace('"__X__"', token)
