"""In a real Chromium: a borrower approves a bank's request and the bank's access then succeeds; the
borrower revokes and the next access is refused; the borrower verifies an access entry in the browser;
a regulator filters the log. Screenshots of every page land in test-artifacts/screenshots/."""

from __future__ import annotations

import datetime as dt
import random
import uuid

import httpx
import pytest

from fincredit.consent.identifiers import generate_uscc
from fincredit.platform.core.db import Account
from fincredit.platform.identity.accounts import create_borrower_account
from fincredit.platform.identity.passwords import hash_password
from fincredit.platform.identity.tokens import CLIENT_ASSERTION_TYPE, make_client_assertion
from fincredit.platform.subjects import register_subject
from fincredit.platform.testing.plugin import Institution, new_institution, unique

from .conftest import login, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "browser-pass-2026"


def _token(live, inst: Institution) -> dict[str, str]:  # type: ignore[no-untyped-def]
    assertion = make_client_assertion(inst.private_pem, inst.account_id, inst.kid, f"{live.url}/oauth2/token")
    r = httpx.post(
        f"{live.url}/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _borrower(live) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    code = generate_uscc(random.Random(uuid.uuid4().int), "330212")
    username = unique("owner")
    with live.services.tx() as session:
        subject = register_subject(session, live.services.keyring, code, "宁波浏览器测试有限公司")
        create_borrower_account(
            session,
            live.services.authz,
            username=username,
            real_name="浏览器",
            password=PASSWORD,
            subject_id=subject.id,
        )
    return code, username


def _bank_access(live, headers: dict[str, str], code: str) -> bool:  # type: ignore[no-untyped-def]
    r = httpx.post(
        f"{live.url}/api/v1/consents/check",
        headers=headers,
        json={
            "identifier": code,
            "scopes": ["tax"],
            "purpose": "loan_application_assessment",
            "mode": "query",
        },
    )
    r.raise_for_status()
    return bool(r.json()["allowed"])


def _refused_access(live, bank: Institution, code: str) -> None:  # type: ignore[no-untyped-def]
    """A real access attempt without consent (not a mere check): refused, and the refusal ledgered."""
    from fincredit.platform.consents import authorize_access
    from fincredit.platform.core.errors import ConsentRefused
    from fincredit.platform.identity.principal import Principal

    principal = Principal(
        account_id=bank.account_id,
        account_kind="institution",
        org_id=bank.org_id,
        org_kind="bank",
        domain=bank.org_id,
    )
    with pytest.raises(ConsentRefused), live.services.tx() as session:
        authorize_access(
            session,
            live.services,
            principal=principal,
            subject=code,
            scopes=["tax"],
            purpose="loan_application_assessment",
            mode="query",
            route="browser-test",
        )


def _request(live, headers: dict[str, str], code: str) -> str:  # type: ignore[no-untyped-def]
    r = httpx.post(
        f"{live.url}/api/v1/consents",
        headers=headers,
        json={
            "identifier": code,
            "purpose": "loan_application_assessment",
            "purpose_text": "评估流动资金贷款",
            "scopes": ["tax", "court"],
            "modes": ["query", "report"],
            "valid_until": (dt.datetime.now(dt.UTC) + dt.timedelta(days=90)).isoformat(),
            "fetch_type": "PERIODIC",
            "frequency": {"value": 10, "unit": "DAY"},
            "data_life": {"value": 1, "unit": "YEAR"},
        },
    )
    r.raise_for_status()
    return str(r.json()["id"])


def _login(page, live, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live.url}/web/login")
    shot(page, "login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()


def test_borrower_approves_then_revokes_and_verifies(page, live) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(live.services, "bank")
    headers = _token(live, bank)
    code, username = _borrower(live)
    consent_id = _request(live, headers, code)
    assert _bank_access(live, headers, code) is False

    _login(page, live, username)
    card = page.locator(f"#c-{consent_id}")
    assert "贷款申请审查" in card.inner_text()
    shot(page, "borrower-request")
    card.get_by_role("button", name="同意授权").click()
    page.wait_for_load_state()
    assert _bank_access(live, headers, code) is True
    shot(page, "borrower-active")

    page.locator(f"#c-{consent_id}").get_by_role("button", name="撤销授权").click()
    page.wait_for_load_state()
    assert _bank_access(live, headers, code) is True  # the first click only asks
    shot(page, "borrower-revoke-confirm")
    page.get_by_role("button", name="确认撤销").click()
    page.wait_for_load_state()
    assert _bank_access(live, headers, code) is False
    assert "已撤销" in page.locator(f"#c-{consent_id}").inner_text()

    page.goto(f"{live.url}/web/borrower/accesses")
    buttons = page.get_by_role("button", name="验证")
    assert buttons.count() >= 3  # requested, granted, revoked (+ the refused access)
    buttons.first.click()
    result = page.locator(".result").first
    result.wait_for(state="visible")
    page.wait_for_function("document.querySelector('.result').textContent.length > 2")
    assert "已验证" in result.inner_text(), result.inner_text()
    shot(page, "borrower-accesses-verified")


def test_regulator_filters_the_log(page, live) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(live.services, "bank")
    regulator = new_institution(live.services, "regulator")
    with live.services.tx() as session:
        account = session.get(Account, regulator.account_id)
        account.password_hash = hash_password(PASSWORD)
        username = account.username
    headers = _token(live, bank)
    code, _ = _borrower(live)
    _refused_access(live, bank, code)  # refused: no consent — highlighted in the log
    _request(live, headers, code)

    login(page, live, username, PASSWORD)  # staff: password and certificate
    page.get_by_label("主体代码").fill(code)
    page.get_by_role("button", name="筛选").click()
    page.wait_for_load_state()
    rows = page.locator("#ledger tbody tr")
    assert rows.count() >= 2
    assert page.locator("#ledger tr.refused").count() >= 1
    shot(page, "regulator-ledger-filtered")
    page.goto(f"{live.url}/web/regulator/status")
    assert "一致" in page.locator("#consistency").inner_text() or page.locator("#consistency").inner_text()
    shot(page, "regulator-status")
