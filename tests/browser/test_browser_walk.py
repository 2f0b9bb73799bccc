"""Every page of every role, in a real Chromium, on a small seeded city (a bank, a data provider, a district
team, a regulator, the credit authority, the operator, a borrower and an anonymous visitor):

- no page shows an internal code — a ``snake_case`` token or a bare organisation id — in its visible text;
- axe-core (the copy vendored in the ``axe-playwright-python`` package, injected from disk: nothing is
  downloaded) finds no serious or critical accessibility violation;
- a screenshot of each page at phone and at desktop width lands in ``test-artifacts/walk/``.

Pages are found the way a person finds them: from each role's home page, by following the links of the
navigation and of the pages themselves (downloads and language switches aside)."""

from __future__ import annotations

import datetime as dt
import random
import re
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from fincredit.consent.identifiers import generate_uscc
from fincredit.platform.core.db import Organisation
from fincredit.platform.core.services import build_services
from fincredit.platform.core.settings import Settings
from fincredit.platform.testing.plugin import Institution, new_institution, with_web_password

from .conftest import STAFF_PASSWORD, LiveServer, _free_port, login

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "walk"
AXE = Path(__import__("axe_playwright_python").__file__).parent / "axe.min.js"
AXE_SOURCE = AXE.read_text(encoding="utf-8")
# A snake_case token standing alone: not part of a path, a URL or a file name (tax_rating.csv is a name
# the provider gave its file, not a code the platform shows).
SNAKE = re.compile(r"(?<![\w/.-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w/-]|\.[a-z])")
# Codes without an underscore ("legal", "active", "applicant", "ACTIVE"): every code the catalogue gives
# words to, taken from its keys (purpose.*, state.*, unit.*, ...); a Chinese page shows none of them.
CODE_KINDS = (
    "purpose",
    "mode",
    "state",
    "entry",
    "kind",
    "reason",
    "objection",
    "theme",
    "severity",
    "plan",
    "outcome",
    "algorithm",
    "job",
    "pushstatus",
    "subscription",
    "unit",
    "pricemodel",
    "provider.kind",
    "provider.due",
    "rowproblem",
)


def _code_words() -> frozenset[str]:
    from fincredit.platform.core.web.i18n import CATALOGUES

    words = set()
    for key in CATALOGUES["zh"].messages:
        kind, _, code = key.rpartition(".")
        if kind in CODE_KINDS and re.fullmatch(r"[A-Za-z]{3,}", code):
            words.add(code)
    return frozenset(words)


CODE_WORDS = _code_words()
WORD = re.compile(r"(?<![\w/.-])[A-Za-z]{3,}(?![\w/-])")
# The visible text the checks read: the body's, without the ``<code class="identifier">`` elements — an
# SDK identifier a data scientist passes (``platform_features=[...]``), shown on purpose on the bank's
# features page. They are hidden while the text is read and shown again before axe and the screenshots.
VISIBLE_TEXT = (
    "() => { const ids = [...document.querySelectorAll('code.identifier')];"
    " const kept = ids.map(e => e.style.display); ids.forEach(e => { e.style.display = 'none'; });"
    " const text = document.body.innerText;"
    " ids.forEach((e, i) => { e.style.display = kept[i]; }); return text; }"
)
PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 900}
BORROWER_PASSWORD = "walk-borrower-2026"
MAX_PAGES_PER_ROLE = 14


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    """A server of its own (no other test's organisations on its pages) with one of everything."""
    from fincredit.platform.core.app import create_app

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    var = tmp_path_factory.mktemp("walk-var")
    settings = Settings(
        var_dir=var,
        database_url=f"sqlite:///{var / 'fincredit.db'}",
        public_url=url,
        host="127.0.0.1",
        port=port,
        trusted_proxies=["127.0.0.1"],
        _env_file=None,
    )  # type: ignore[call-arg]
    services = build_services(settings)
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, services), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "live server did not start"
        time.sleep(0.05)
    live = LiveServer(url, services)
    try:
        yield live, _seed(live)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _token(live: LiveServer, inst: Institution) -> dict[str, str]:
    from fincredit.platform.identity.tokens import CLIENT_ASSERTION_TYPE, make_client_assertion

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


def _institution(live: LiveServer, kind: str, org_id: str, name: str, **kw: str) -> tuple[Institution, str]:
    inst = new_institution(live.services, kind, org_id=org_id, **kw)
    with live.services.tx() as session:
        org = session.get(Organisation, org_id)
        assert org is not None
        org.name = name
    return inst, with_web_password(live.services, inst, STAFF_PASSWORD)


def _seed(live: LiveServer) -> dict[str, str]:
    """The city: who logs in as what (role → username), after one of each thing the pages show."""
    from fincredit.platform.core.db import Account
    from fincredit.platform.identity.accounts import create_borrower_account, create_institution_account
    from fincredit.platform.identity.accounts import set_password as set_web_password
    from fincredit.platform.identity.principal import Principal
    from fincredit.platform.ingestion.tables import CreditRecord
    from fincredit.platform.metered.billing import Usage, record_usage
    from fincredit.platform.metered.billing.tables import Entitlement
    from fincredit.platform.objections import file_objection
    from fincredit.platform.subjects import register_subject
    from fincredit.platform.supervision import add_expert, file_plan, record_inspection
    from fincredit.platform.testing.seed import grant_consent, load_records

    from ..platform.test_web_bank_regulator import seed_job

    s = live.services
    bank, bank_user = _institution(live, "bank", "nb-demo-bank", "宁波示范商业银行")
    team, team_user = _institution(live, "district_team", "yz-team", "鄞州区融资服务专班", district="330212")
    _, regulator_user = _institution(live, "regulator", "pbc-nb", "中国人民银行宁波市分行")
    authority, authority_user = _institution(live, "credit_authority", "nb-credit", "宁波市社会信用管理局")
    operator, operator_user = _institution(live, "platform_operator", "nb-operator", "平台运营中心")
    _, vendor_user = _institution(live, "market_vendor", "nb-power-data", "宁波电力数据服务公司")
    with s.tx() as session:
        from fincredit.platform.market import DatasetTerms, register_contract

        today = dt.date.today()
        register_contract(
            session,
            vendor_id="nb-power-data",
            reference="MC-2026-007",
            datasets=[DatasetTerms("power-usage", "企业用电数据", "月度用电量与缴费记录")],
            allowed_purposes=["loan_application_assessment", "joint_modelling"],
            derived_products_allowed=True,
            resale_allowed=False,
            starts_on=today - dt.timedelta(days=30),
            expires_on=today + dt.timedelta(days=335),
            annual_fee_cny=Decimal(120000),
            created_by=operator.account_id,
        )

    # The tax office (a catalog provider, an organisation since the first start) gets a staff account.
    with s.tx() as session:
        tax = create_institution_account(
            session,
            s.authz,
            org_id="NB-TAX",
            username="tax-clerk",
            real_name="税务报送员",
            stated_use="报送纳税信用信息",
        )
        set_web_password(session, tax.username, STAFF_PASSWORD)

    # An enterprise with records of two providers, a borrower account acting for it, and a second one.
    code = generate_uscc(random.Random(7), "330212")
    other = generate_uscc(random.Random(8), "330212")
    with s.tx() as session:
        subject = register_subject(session, s.keyring, code, "宁波甬江示范科技有限公司")
        register_subject(session, s.keyring, other, "宁波三江口贸易有限公司")
        create_borrower_account(
            session,
            s.authz,
            username="yongjiang-owner",
            real_name="陈示范",
            password=BORROWER_PASSWORD,
            subject_id=subject.id,
        )
        sid = subject.id
    load_records(
        s,
        "tax_rating",
        code,
        [
            {
                "provider_record_id": "TAX-2025-1",
                "rating_year": 2025,
                "rating": "B",
                "rated_date": "2025-04-01",
            }
        ],
    )
    load_records(
        s,
        "admin_penalty",
        code,
        [
            {
                "provider_record_id": "AMR-2025-12",
                "decision_no": "甬鄞市监罚〔2025〕12号",
                "penalty_date": "2025-03-01",
                "penalty_type": "罚款",
                "fine_amount": 5000,
                "violation": "虚假宣传",
                "authority": "宁波市鄞州区市场监督管理局",
            }
        ],
    )
    grant_consent(s, sid, bank.org_id, purpose="loan_application_assessment", modes=["query", "report"])
    grant_consent(
        s,
        sid,
        bank.org_id,
        purpose="post_loan_monitoring",
        scopes=["tax_rating"],
        modes=["query", "push_subscription"],
    )
    grant_consent(
        s, sid, bank.org_id, purpose="financing_matchmaking", scopes=["market_registration"], modes=["query"]
    )
    grant_consent(
        s, sid, bank.org_id, purpose="credit_report", modes=["report"], granted=False
    )  # waits for the borrower

    headers = _token(live, bank)
    query = {"identifier": code, "purpose": "loan_application_assessment"}
    assert httpx.post(f"{live.url}/api/v1/free/query", headers=headers, json=query).status_code == 200
    refused = {"identifier": other, "purpose": "loan_application_assessment"}
    assert httpx.post(f"{live.url}/api/v1/free/query", headers=headers, json=refused).status_code == 403
    sub = {"identifier": code, "items": ["tax_rating"]}
    httpx.post(f"{live.url}/api/v1/free/push/subscriptions", headers=headers, json=sub)
    product = httpx.post(
        f"{live.url}/api/v1/free/matchmaking/products",
        headers=headers,
        json={
            "name": "科创信用贷",
            "amount_min": 200_000,
            "amount_max": 5_000_000,
            "term_min": 6,
            "term_max": 36,
            "rate_min": 3.45,
            "rate_max": 4.2,
            "rules": {"fact": "region", "op": "prefix", "value": "3302"},
        },
    ).json()
    borrower = httpx.post(
        f"{live.url}/api/v1/auth/login", json={"username": "yongjiang-owner", "password": BORROWER_PASSWORD}
    ).json()
    httpx.post(
        f"{live.url}/api/v1/free/matchmaking/needs",
        headers={"Authorization": f"Bearer {borrower['access_token']}"},
        json={"amount": 1_500_000, "term_months": 12, "use_of_funds": "购置数控机床"},
    )
    board = httpx.post(
        f"{live.url}/api/v1/boards",
        headers=_token(live, team),
        json={
            "title": "鄞州科创企业融资专区",
            "description": "面向鄞州区科技型中小企业的融资服务",
            "theme": "tech_innovation",
            "region": "330212",
            "rules": {"fact": "region", "op": "prefix", "value": "330212"},
        },
    ).json()
    httpx.patch(
        f"{live.url}/api/v1/boards/{board['id']}", headers=_token(live, team), json={"status": "published"}
    )
    httpx.post(
        f"{live.url}/api/v1/boards/{board['id']}/products",
        headers=headers,
        json={"product_id": product["id"]},
    )

    seed_job(s, bank)
    now = dt.datetime.now(dt.UTC)
    with s.tx() as session:
        session.add(Entitlement(org_id=bank.org_id, product="market.credit_score", enabled=True))
        session.flush()
        record_usage(
            session,
            Usage(product="market.credit_score", org_id=bank.org_id, quantity=Decimal(1353), time=now),
        )
        record = session.scalars(
            select(CreditRecord).where(CreditRecord.subject_id == sid, CreditRecord.item_code == "tax_rating")
        ).first()
        assert record is not None
        account = session.scalar(select(Account).where(Account.username == "yongjiang-owner"))
        assert account is not None
        file_objection(
            session, subject_id=sid, record_id=record.id, reason="评级依据的年度有误", filed_by=account.id
        )
        principal = Principal(
            authority.account_id, "institution", authority.org_id, "credit_authority", authority.org_id
        )
        record_inspection(
            session,
            principal,
            {
                "inspected_org_id": bank.org_id,
                "inspected_on": now.date(),
                "inspector": "检查组甲",
                "findings": [
                    {"severity": "high", "text": "查询授权留存不全", "remediation_due": "2027-01-31"}
                ],
            },
        )
        file_plan(
            session,
            principal,
            {
                "year": now.year,
                "kind": "work_plan",
                "title": f"{now.year} 年度工作计划",
                "content": "全年目标",
            },
        )
        add_expert(session, {"name": "王专家", "field": "信息安全", "affiliation": "宁波大学"})
    return {
        "borrower": "yongjiang-owner",
        "bank": bank_user,
        "provider": "tax-clerk",
        "team": team_user,
        "regulator": regulator_user,
        "authority": authority_user,
        "operator": operator_user,
        "vendor": vendor_user,
    }


def _links(page, base: str) -> list[str]:  # type: ignore[no-untyped-def]
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)")
    out = []
    for href in hrefs:
        parts = urlsplit(href)
        if f"{parts.scheme}://{parts.netloc}" != base or not parts.path.startswith("/web"):
            continue
        if parts.path.startswith("/web/static") or re.search(r"\.(csv|pdf|xlsx|json)$", parts.path):
            continue
        if re.search(r"(^|&)(lang|format)=", parts.query):
            continue
        out.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return out


def _org_ids(live: LiveServer) -> re.Pattern[str]:
    with live.services.read() as session:
        ids = sorted(session.scalars(select(Organisation.id)), key=len, reverse=True)
    return re.compile(r"(?<![\w-])(" + "|".join(re.escape(i) for i in ids) + r")(?![\w-])")


TIMES: dict[str, float] = {"load": 0.0, "text": 0.0, "axe": 0.0, "shots": 0.0}
# axe-core's WCAG 2.x A/AA rules: what "no serious violations" is measured against.
AXE_RUN = (
    "async () => { const r = await axe.run(document, {resultTypes: ['violations'], runOnly: {type: 'tag',"
    " values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});"
    " return r.violations.map(v => ({id: v.id, impact: v.impact, n: v.nodes.length,"
    " target: v.nodes[0] && v.nodes[0].target.join(' ')})); }"
)


def _check(page, name: str, org_ids: re.Pattern[str], problems: list[str]) -> None:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    text = page.evaluate(VISIBLE_TEXT)
    for token in sorted(set(SNAKE.findall(text))):
        problems.append(f"{name}: code {token!r} shown")
    for token in sorted({w for w in WORD.findall(text) if w in CODE_WORDS}):
        problems.append(f"{name}: code {token!r} shown")
    for org in sorted(set(org_ids.findall(text))):
        problems.append(f"{name}: organisation id {org!r} shown instead of its name")
    t1 = time.monotonic()
    page.add_script_tag(content=AXE_SOURCE)
    for v in page.evaluate(AXE_RUN):
        if v["impact"] in ("serious", "critical"):
            problems.append(f"{name}: axe {v['impact']} {v['id']} ×{v['n']} (e.g. {v['target']})")
    t2 = time.monotonic()
    # JPEG: a tenth of PNG's encoding time for a full page, and plenty to see a layout by.
    page.screenshot(path=str(ARTIFACTS / f"{name}-phone.jpg"), full_page=True, type="jpeg", quality=70)
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(ARTIFACTS / f"{name}-desktop.jpg"), full_page=True, type="jpeg", quality=70)
    page.set_viewport_size(PHONE)
    t3 = time.monotonic()
    TIMES["text"] += t1 - t0
    TIMES["axe"] += t2 - t1
    TIMES["shots"] += t3 - t2


def _in_english(page, live: LiveServer, role: str, paths: list[str], org_ids, problems: list[str]) -> None:  # type: ignore[no-untyped-def]
    """The same pages under the language switch: English words, still no code or organisation id."""
    for path in paths:
        page.goto(live.url + path + ("&" if "?" in path else "?") + "lang=en")
        text = page.evaluate(VISIBLE_TEXT)
        name = f"{role} {path} (English)"
        for token in sorted(set(SNAKE.findall(text))):
            problems.append(f"{name}: code {token!r} shown")
        for org in sorted(set(org_ids.findall(text))):
            problems.append(f"{name}: organisation id {org!r} shown instead of its name")


def _walk(page, live: LiveServer, role: str, start: list[str], org_ids, problems: list[str]) -> list[str]:  # type: ignore[no-untyped-def]
    seen: set[str] = set()
    queue = list(start)
    visited = []
    while queue and len(visited) < MAX_PAGES_PER_ROLE:
        path = queue.pop(0)
        key = urlsplit(path).path
        if key in seen or key.endswith("/logout") or (key.endswith("/login") and role != "anonymous"):
            continue
        if role != "anonymous" and key.startswith("/web/boards"):
            continue  # the public pages are walked once, by the anonymous visitor
        seen.add(key)
        t0 = time.monotonic()
        response = page.goto(live.url + path)
        TIMES["load"] += time.monotonic() - t0
        assert response is not None
        if response.status >= 400:
            problems.append(f"{role} {path}: HTTP {response.status}")
            continue
        if not (response.headers.get("content-type") or "").startswith("text/html"):
            continue
        name = f"{role}-" + (re.sub(r"[^a-zA-Z0-9]+", "-", key.removeprefix("/web")).strip("-") or "home")
        _check(page, name, org_ids, problems)
        visited.append(path)
        queue += [link for link in _links(page, live.url) if urlsplit(link).path not in seen]
    return visited


START = {
    "anonymous": ["/web/", "/web/login", "/web/boards", "/web/verify"],
    "borrower": ["/web/borrower", "/web/borrower/credit-report"],
    "bank": ["/web/bank"],
    "provider": ["/web/provider"],
    "team": ["/web/team/boards"],
    "regulator": ["/web/regulator"],
    "authority": ["/web/regulator/report"],
    "operator": ["/web/", "/web/verify"],
    "vendor": ["/web/market"],
}


def test_every_page_of_every_role_speaks_words_and_passes_axe(city, browser) -> None:  # type: ignore[no-untyped-def]
    live, users = city
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    org_ids = _org_ids(live)
    problems: list[str] = []
    walked: dict[str, list[str]] = {}
    started = time.monotonic()
    for role, start in START.items():
        browser.clear_cookies()
        page = browser.new_page()
        page.set_viewport_size(PHONE)
        try:
            if role != "anonymous":
                password = BORROWER_PASSWORD if role == "borrower" else STAFF_PASSWORD
                login(page, live, users[role], password)
                assert "/login" not in page.url, f"{role} could not log in"
            walked[role] = _walk(page, live, role, start, org_ids, problems)
            _in_english(page, live, role, walked[role], org_ids, problems)
        finally:
            page.close()
    elapsed = time.monotonic() - started
    pages = sum(len(v) for v in walked.values())
    print(
        f"walked {pages} pages in {elapsed:.1f} s: " + "; ".join(f"{r} {len(v)}" for r, v in walked.items())
    )
    print("time by step: " + ", ".join(f"{k} {v:.1f} s" for k, v in TIMES.items()))
    assert not problems, "\n".join(problems)
    # Each role reaches the pages of its work, not only its home page.
    assert all(len(v) >= 2 for v in walked.values()), walked
    # The bank's data scientist finds the offered features through a link (#21).
    assert "/web/bank/joint-lab/features" in walked["bank"], walked["bank"]
