"""An enterprise posts its financing need in a form (amount, term, use), sees it matched at once against
the products of the banks it authorized for matchmaking, is told field by field what is wrong with a bad
entry, matches again after authorizing another bank, and finds its own credit report one click away."""

from __future__ import annotations

import uuid

import pytest

from fincredit.platform.core.db import Account
from fincredit.platform.testing.plugin import auth, new_institution, web_login
from fincredit.platform.testing.seed import grant_consent

from .test_free_matchmaking import PASSWORD, RULES, SCOPES, _enterprise


@pytest.fixture(autouse=True)
def _no_push_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINCREDIT_PUSH_WORKER", "0")


def _product(client, bank, name: str) -> None:  # type: ignore[no-untyped-def]
    r = client.post(
        "/api/v1/free/matchmaking/products",
        headers=auth(client, bank),
        json={
            "name": name,
            "amount_min": 100_000,
            "amount_max": 5_000_000,
            "term_min": 6,
            "term_max": 36,
            "rate_min": 3.5,
            "rate_max": 5.0,
            "rules": RULES,
        },
    )
    assert r.status_code == 201, r.text


def test_a_need_posted_in_the_form_is_matched_under_consent(client, services) -> None:  # type: ignore[no-untyped-def]
    first, second = new_institution(services, "bank"), new_institution(services, "bank")
    tag = uuid.uuid4().hex[:6]
    _product(client, first, f"科创贷{tag}")
    _product(client, second, f"订单贷{tag}")
    _, sid, _ = _enterprise(client, services, tax="A")
    grant_consent(
        services, sid, first.org_id, purpose="financing_matchmaking", scopes=SCOPES, modes=["query"]
    )
    with services.read() as session:
        username = session.query(Account.username).filter(Account.subject_id == sid).scalar()
    assert web_login(client, username, PASSWORD).status_code == 303
    page = client.get("/web/borrower/matches").text
    assert 'action="/web/borrower/needs"' in page and 'href="/web/borrower/credit-report"' in page
    # A bad entry: the form again, each problem next to its field, nothing published.
    bad = client.post("/web/borrower/needs", data={"amount": "-5", "term_months": "abc", "use_of_funds": " "})
    assert bad.status_code == 422
    assert "请填写大于零的金额" in bad.text and "1至600之间" in bad.text and "请说明资金用途" in bad.text
    assert 'value="-5"' in bad.text
    r = client.post(
        "/web/borrower/needs",
        data={"amount": "1,200,000", "term_months": "24", "use_of_funds": "购置检测设备"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "notice=published" in r.headers["location"]
    page = client.get(r.headers["location"]).text
    assert "融资需求已发布" in page and "购置检测设备" in page and "1,200,000.00 元" in page
    assert f"科创贷{tag}" in page and f"订单贷{tag}" not in page  # only the authorized bank's product
    need_id = page.split('id="n-')[1].split('"')[0]
    grant_consent(
        services, sid, second.org_id, purpose="financing_matchmaking", scopes=SCOPES, modes=["query"]
    )
    again = client.post(f"/web/borrower/needs/{need_id}/match", follow_redirects=False)
    assert again.status_code == 303
    assert f"订单贷{tag}" in client.get(again.headers["location"]).text
    assert client.get("/web/borrower/credit-report").status_code == 200
