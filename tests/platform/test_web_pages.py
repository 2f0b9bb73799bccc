"""The web pages people use: a borrower approves and revokes in plain words, sees every access with a
proof to verify; a regulator filters the log; anonymous visitors are sent to the login page."""

from __future__ import annotations

import datetime as dt
import random
import re
import uuid

from fincredit.consent.identifiers import generate_uscc
from fincredit.platform.core.db import Account
from fincredit.platform.identity.accounts import create_borrower_account
from fincredit.platform.subjects import register_subject
from fincredit.platform.testing.plugin import (
    auth,
    csrf_token,
    new_institution,
    staff_web_login,
    unique,
    web_login,
    with_web_password,
)

PASSWORD = "borrower-pass-2026"


def _borrower(services):  # type: ignore[no-untyped-def]
    code = generate_uscc(random.Random(uuid.uuid4().int), "330212")
    username = unique("owner")
    with services.tx() as session:
        subject = register_subject(session, services.keyring, code, "宁波页面测试有限公司")
        create_borrower_account(
            session,
            services.authz,
            username=username,
            real_name="页面",
            password=PASSWORD,
            subject_id=subject.id,
        )
    return code, username


def _request_consent(client, bank, code: str, scopes: tuple[str, ...] = ("tax", "court")) -> str:  # type: ignore[no-untyped-def]
    r = client.post(
        "/api/v1/consents",
        headers=auth(client, bank),
        json={
            "identifier": code,
            "purpose": "loan_application_assessment",
            "scopes": list(scopes),
            "modes": ["query"],
            "valid_until": (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat(),
            "fetch_type": "PERIODIC",
            "frequency": {"value": 10, "unit": "DAY"},
            "data_life": {"value": 1, "unit": "YEAR"},
        },
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _login(client, username: str, services=None) -> None:  # type: ignore[no-untyped-def]
    """Borrowers sign in with their password; staff (given ``services`` to issue their certificate) with
    password and client certificate."""
    if services is None:
        r = web_login(client, username, PASSWORD)
    else:
        r = staff_web_login(client, services, username, PASSWORD)
    assert r.status_code == 303, r.text


def _check(client, bank, code: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    r = client.post(
        "/api/v1/consents/check",
        headers=auth(client, bank),
        json={
            "identifier": code,
            "scopes": ["tax"],
            "purpose": "loan_application_assessment",
            "mode": "query",
        },
    )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_anonymous_visitors_are_sent_to_login(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/web/borrower", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/web/login")
    assert client.get("/web/login").status_code == 200
    assert "宁波市融资信用服务平台" in client.get("/web/").text


def test_wrong_password_shows_the_form_again(client) -> None:  # type: ignore[no-untyped-def]
    r = client.post(
        "/web/login",
        data={"username": "nobody-here", "password": "wrong-password", "csrf_token": csrf_token(client)},
    )
    assert r.status_code == 401 and "用户名或密码错误" in r.text


def test_borrower_approves_then_revokes_in_two_clicks(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    code, username = _borrower(services)
    consent_id = _request_consent(client, bank, code)
    _login(client, username)
    page = client.get("/web/borrower").text
    assert "待处理的授权请求" in page and consent_id in page and "贷款申请审查" in page
    client.post(f"/web/borrower/consents/{consent_id}/approve")
    assert _check(client, bank, code)["allowed"] is True
    # First click asks for confirmation and changes nothing.
    first = client.post(f"/web/borrower/consents/{consent_id}/revoke", follow_redirects=False)
    assert first.status_code == 303 and f"confirm={consent_id}" in first.headers["location"]
    assert _check(client, bank, code)["allowed"] is True
    confirm_page = client.get(first.headers["location"]).text
    assert "确认撤销" in confirm_page
    client.post(f"/web/borrower/consents/{consent_id}/revoke", data={"confirmed": "yes"})
    assert _check(client, bank, code)["allowed"] is False
    assert "已撤销" in client.get("/web/borrower").text


def test_the_request_names_the_data_in_words_not_codes(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    code, username = _borrower(services)
    _request_consent(client, bank, code, ("tax", "tax_rating", "tax_rating.rating", "market:ds-utilities"))
    _login(client, username)
    page = client.get("/web/borrower").text
    assert "市场数据集 ds-utilities、税务信息、纳税信用等级、纳税信用等级（rating）" in page
    english = client.get("/web/borrower?lang=en").text
    assert "tax information" in english and "market dataset ds-utilities" in english


def test_english_switch(client, services) -> None:  # type: ignore[no-untyped-def]
    _code, username = _borrower(services)
    _login(client, username)
    assert "My authorizations" in client.get("/web/borrower?lang=en").text
    assert "My authorizations" in client.get("/web/borrower").text  # remembered in a cookie


def test_access_log_carries_proofs_to_the_signed_checkpoint(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    code, username = _borrower(services)
    consent_id = _request_consent(client, bank, code)
    _login(client, username)
    client.post(f"/web/borrower/consents/{consent_id}/approve")
    page = client.get("/web/borrower/accesses").text
    assert "授权已" in page or "您同意了授权" in page
    assert re.search(r'class="verify"', page) and "data-proof=" in page
    assert "\u2014 " in page  # the signed checkpoint note is on the page for the browser to verify
    assert "<dd>司法信息、税务信息</dd>" in page  # the consented data, in words


def test_a_borrower_cannot_open_regulator_pages(client, services) -> None:  # type: ignore[no-untyped-def]
    _code, username = _borrower(services)
    _login(client, username)
    r = client.get("/web/regulator")
    assert r.status_code == 403 and "无权访问" in r.text


def test_regulator_filters_the_log_and_sees_refusals(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    regulator = new_institution(services, "regulator")
    username = with_web_password(services, regulator, PASSWORD)
    code, _ = _borrower(services)
    client.post(
        "/api/v1/consents/check",
        headers=auth(client, bank),
        json={
            "identifier": code,
            "scopes": ["tax"],
            "purpose": "loan_application_assessment",
            "mode": "query",
        },
    )
    _request_consent(client, bank, code)
    _login(client, username, services)
    page = client.get("/web/regulator", params={"subject": code}).text
    assert "机构请求授权" in page
    status = client.get("/web/regulator/status").text
    assert "<svg" in status and "条目数" in status


def test_borrower_files_an_objection_from_the_page(client, services) -> None:  # type: ignore[no-untyped-def]
    from .test_objection_workflow import make_record

    provider = new_institution(services, "data_provider")
    subject_id, record_id = make_record(services, provider.org_id, {"penalty_amount": 800.0})
    username = unique("owner")
    with services.tx() as session:
        create_borrower_account(
            session,
            services.authz,
            username=username,
            real_name="异议人",
            password=PASSWORD,
            subject_id=subject_id,
        )
    _login(client, username)
    page = client.get("/web/borrower/objections").text
    assert f'id="r-{record_id}"' in page and "提出异议" in page
    r = client.post(
        "/web/borrower/objections",
        data={"record_id": str(record_id), "reason": "罚款已缴清"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get("/web/borrower/objections").text
    assert "异议处理中" in page and "罚款已缴清" in page and "平台核查中" in page


def test_borrower_sees_their_financing_needs_and_banks_see_subscriptions_and_leads(client, services) -> None:  # type: ignore[no-untyped-def]
    _code, username = _borrower(services)
    login = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD}).json()
    need = client.post(
        "/api/v1/free/matchmaking/needs",
        headers={"Authorization": f"Bearer {login['access_token']}"},
        json={"amount": 3_000_000, "term_months": 24, "use_of_funds": "购置生产设备"},
    )
    assert need.status_code == 201, need.text
    _login(client, username)
    page = client.get("/web/borrower/matches").text
    assert "购置生产设备" in page and "3,000,000" in page
    bank = new_institution(services, "bank")
    bank_user = with_web_password(services, bank, PASSWORD)
    client.cookies.clear()
    _login(client, bank_user, services)
    assert "贷后监测推送订阅" in client.get("/web/bank/subscriptions").text
    assert "融资对接线索" in client.get("/web/bank/leads").text
    assert client.get("/web/borrower/matches").status_code == 403


def test_staff_sign_in_with_the_password_the_operator_set(client, services) -> None:  # type: ignore[no-untyped-def]
    from fincredit.platform.identity.accounts import set_password

    regulator = new_institution(services, "regulator")
    operator = new_institution(services, "platform_operator")
    with services.tx() as session:
        names = [session.get(Account, i.account_id).username for i in (regulator, operator)]
        for name in names:
            set_password(session, name, PASSWORD)
    r = staff_web_login(client, services, names[0], PASSWORD)
    assert r.headers["location"] == "/web/regulator"
    client.post("/web/logout")
    client.cookies.clear()
    # The operator administers accounts, not the ledger: it lands on the public pages, with no
    # links to pages that would refuse it.
    r = staff_web_login(client, services, names[1], PASSWORD)
    assert r.headers["location"] == "/web/boards"
    page = client.get("/web/boards").text
    assert "/web/regulator" not in page and "/web/bank" not in page


def test_logs_show_the_newest_entries_first_and_page_back(client, services, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from fincredit.platform.consents import ledger_pages as pages_regulator
    from fincredit.platform.consents import pages as pages_borrower

    monkeypatch.setattr(pages_regulator, "LEDGER_PAGE", 2)
    monkeypatch.setattr(pages_borrower, "ACCESS_PAGE", 1)
    bank = new_institution(services, "bank")
    code, username = _borrower(services)
    for _ in range(3):
        _request_consent(client, bank, code)
    _login(client, username)
    first = client.get("/web/borrower/accesses").text
    newest = [int(n) for n in re.findall(r'data-seq="(\d+)"', first)]
    older = re.search(r'href="\?older=(\d+)"', first)
    assert older is not None
    second = client.get(f"/web/borrower/accesses?older={older.group(1)}").text
    older_entries = [int(n) for n in re.findall(r'data-seq="(\d+)"', second)]
    assert len(newest) == 1 and older_entries and max(older_entries) < min(newest)

    regulator = new_institution(services, "regulator")
    name = with_web_password(services, regulator, PASSWORD)
    client.cookies.clear()
    _login(client, name, services)
    page = client.get("/web/regulator", params={"grantee": bank.org_id}).text
    seqs = [int(n) for n in re.findall(r"<tr class=\"[^\"]*\">\s*<td>(\d+)</td>", page)]
    assert len(seqs) == 2 and seqs[0] > seqs[1]
    link = re.search(r'href="\?([^"]*older=(\d+))"', page)
    assert link is not None and f"grantee={bank.org_id}" in link.group(1)
    more = client.get("/web/regulator?" + link.group(1).replace("&amp;", "&")).text
    older_seqs = [int(n) for n in re.findall(r"<tr class=\"[^\"]*\">\s*<td>(\d+)</td>", more)]
    assert older_seqs and max(older_seqs) < min(seqs)
