"""A board team writes its target population with a form — pick the information, the comparison and the
value, row by row — and reads it back in words before saving, the JSON staying as the advanced view; an
enterprise applies to a board's product from the public page: it first sees whether its own records meet
the product's conditions, then, in plain words, what applying authorizes, and submitting grants that
one-time consent and gives the bank a matchmaking lead under it."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from fincredit.platform.boards.tables import Board
from fincredit.platform.consents.tables import LedgerEntryRow
from fincredit.platform.core.db import Account
from fincredit.platform.testing.plugin import (
    auth,
    new_institution,
    staff_web_login,
    web_login,
    with_web_password,
)

from .test_free_matchmaking import PASSWORD as BORROWER_PASSWORD
from .test_free_matchmaking import RULES, _enterprise

PASSWORD = "team-pass-2026"
REGION = "330226"


@pytest.fixture(autouse=True)
def _no_push_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINCREDIT_PUSH_WORKER", "0")


def _board_fields(**extra: str) -> dict[str, str]:
    return {
        "title": f"宁海专精特新{uuid.uuid4().hex[:6]}",
        "description": "面向宁海专精特新企业",
        "theme": "tech_innovation",
        "region": REGION,
        "rules": "",
        **extra,
    }


ROWS = {
    "combine": "all",
    "fact_0": "region",
    "op_0": "prefix",
    "value_0": REGION,
    "fact_1": "years_in_business",
    "op_1": "gte",
    "value_1": "2",
    "fact_2": "tax_rating",
    "op_2": "in",
    "value_2": "A、B",
    "fact_3": "",
    "op_3": "eq",
    "value_3": "",
}


def test_the_team_builds_the_rule_in_a_form_and_reads_it_in_words(client, services) -> None:  # type: ignore[no-untyped-def]
    team = new_institution(services, "district_team", district=REGION)
    assert (
        staff_web_login(client, services, with_web_password(services, team, PASSWORD), PASSWORD).status_code
        == 303
    )
    blank = client.get("/web/team/boards/new").text
    assert 'name="fact_0"' in blank and 'name="op_0"' in blank and "高级：以JSON查看和编辑规则" in blank
    fields = _board_fields(**ROWS)
    preview = client.post("/web/team/boards", data={**fields, "action": "preview"})
    assert preview.status_code == 200
    words = preview.text[preview.text.index('id="rule-in-words"') :]
    assert "同时满足" in preview.text and "纳税信用等级" in words and "A、B" in words and "宁海" in words
    with services.read() as session:
        assert session.query(Board).filter(Board.title == fields["title"]).count() == 0  # nothing saved
    more = client.post("/web/team/boards", data={**fields, "action": "add"})
    assert 'name="fact_4"' in more.text  # a further blank row
    bad = client.post("/web/team/boards", data={**fields, "value_1": "两年"})
    assert bad.status_code == 422 and "此项应填数字" in bad.text
    saved = client.post("/web/team/boards", data=fields, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    board_id = saved.headers["location"].split("/")[-1].split("?")[0]
    with services.read() as session:
        rules = session.get(Board, board_id).rules
    assert rules == {
        "all": [
            {"fact": "region", "op": "prefix", "value": REGION},
            {"fact": "years_in_business", "op": "gte", "value": 2},
            {"fact": "tax_rating", "op": "in", "value": ["A", "B"]},
        ]
    }
    editor = client.get(f"/web/team/boards/{board_id}").text
    assert '<option value="years_in_business" selected>' in editor and 'value="A、B"' in editor
    assert "&#34;years_in_business&#34;" in editor or '"years_in_business"' in editor  # the JSON view
    # A nested rule is the advanced view's: saved from JSON, it opens there.
    nested = json.dumps(
        {
            "all": [
                {"fact": "region", "op": "prefix", "value": REGION},
                {"not": {"fact": "count.dishonest_debtor", "op": "gt", "value": 0}},
            ]
        }
    )
    r = client.post(
        f"/web/team/boards/{board_id}",
        data={**_board_fields(rules=nested), "rules_mode": "json"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    reopened = client.get(f"/web/team/boards/{board_id}").text
    assert re.search(r'<details class="help advanced" open', reopened)


def _published_board_with_product(client, services) -> tuple[str, str, object]:  # type: ignore[no-untyped-def]
    team = new_institution(services, "district_team", district=REGION)
    bank = new_institution(services, "bank")
    assert (
        staff_web_login(client, services, with_web_password(services, team, PASSWORD), PASSWORD).status_code
        == 303
    )
    r = client.post("/web/team/boards", data=_board_fields(), follow_redirects=False)
    board_id = r.headers["location"].split("/")[-1].split("?")[0]
    client.post(f"/web/team/boards/{board_id}/status", data={"status": "published"})
    bh = auth(client, bank)
    product = client.post(
        "/api/v1/free/matchmaking/products",
        headers=bh,
        json={
            "name": f"专精特新贷{uuid.uuid4().hex[:4]}",
            "amount_min": 200_000,
            "amount_max": 3_000_000,
            "term_min": 6,
            "term_max": 36,
            "rate_min": 3.4,
            "rate_max": 4.6,
            "rules": RULES,
        },
    ).json()
    assert client.post(f"/api/v1/boards/{board_id}/products", headers=bh, json={"product_id": product["id"]})
    client.cookies.clear()
    return board_id, product["id"], bank


def _borrower_login(client, services, sid: int) -> None:  # type: ignore[no-untyped-def]
    with services.read() as session:
        username = session.query(Account.username).filter(Account.subject_id == sid).scalar()
    client.cookies.clear()
    assert web_login(client, username, BORROWER_PASSWORD).status_code == 303


def test_an_enterprise_applies_from_the_board_page_under_its_own_consent(client, services) -> None:  # type: ignore[no-untyped-def]
    board_id, product_id, bank = _published_board_with_product(client, services)
    public = client.get(f"/web/boards/{board_id}").text
    link = f"/web/boards/{board_id}/apply?product={product_id}"
    assert link in public
    anonymous = client.get(link, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/web/login")
    _, sid, _ = _enterprise(client, services, tax="A")
    _borrower_login(client, services, sid)
    form = client.get(link).text
    assert (
        "符合本产品的申请条件" in form
        and "一次性获取贵企业的以下信息" in form
        and f"bank {bank.org_id}" in form
    )
    assert "纳税信用等级" in form  # the items the bank would receive, by name
    data = {"product": product_id, "amount": "800000", "term_months": "12", "use_of_funds": "研发设备"}
    unagreed = client.post(f"/web/boards/{board_id}/apply", data=data)
    assert unagreed.status_code == 422 and "请勾选同意后再提交" in unagreed.text
    with services.read() as session:
        before = session.query(LedgerEntryRow).filter(LedgerEntryRow.grantee_org_id == bank.org_id).count()
    assert before == 0  # nothing reached the bank without the enterprise's yes
    r = client.post(f"/web/boards/{board_id}/apply", data={**data, "agree": "yes"}, follow_redirects=False)
    assert r.status_code == 303 and "notice=applied" in r.headers["location"]
    assert "申请已提交" in client.get(r.headers["location"]).text
    with services.read() as session:
        types = [
            t
            for (t,) in session.query(LedgerEntryRow.type).filter(
                LedgerEntryRow.grantee_org_id == bank.org_id
            )
        ]
    assert {"consent_requested", "consent_granted"} <= set(types) and len(types) >= 3  # and the disclosure
    leads = client.get("/api/v1/free/matchmaking/leads", headers=auth(client, bank)).json()
    assert any(lead["product_id"] == product_id for lead in leads)


def test_an_enterprise_that_does_not_qualify_sees_why_and_sends_nothing(client, services) -> None:  # type: ignore[no-untyped-def]
    board_id, product_id, bank = _published_board_with_product(client, services)
    _, sid, _ = _enterprise(client, services, tax="D")
    _borrower_login(client, services, sid)
    page = client.get(f"/web/boards/{board_id}/apply?product={product_id}").text
    assert "以下条件暂不满足" in page and "纳税信用等级" in page and 'name="agree"' not in page
    data = {
        "product": product_id,
        "amount": "800000",
        "term_months": "12",
        "use_of_funds": "研发",
        "agree": "yes",
    }
    assert client.post(f"/web/boards/{board_id}/apply", data=data).status_code == 409
    with services.read() as session:
        assert session.query(LedgerEntryRow).filter(LedgerEntryRow.grantee_org_id == bank.org_id).count() == 0
