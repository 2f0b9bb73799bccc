"""Demo steps of the market products, boards, national reporting and supervision (appended to
``demo.STEPS``): a district team publishes a thematic board; the bank buys the platform credit score
for an enterprise under its consent (metered); a loan granted through the board's matchmaking is
reported to the provincial node (the built-in receiver); the regulator downloads the monthly
operations report."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fincredit.consent.identifiers import division_name, generate_uscc
from fincredit.platform.free.tables import FinancingNeed
from fincredit.platform.identity.accounts import (
    create_institution_account,
    create_organisation,
    generate_key_pair,
    register_key,
)
from fincredit.platform.metered.billing.tables import Entitlement
from fincredit.platform.metered.products import SCORE_SCOPES, train_and_register
from fincredit.platform.national import RECEIVER_PATH, deliver_due, enqueue_granted
from fincredit.platform.subjects import find_subject
from fincredit.platform.testing.seed import grant_consent

if TYPE_CHECKING:
    from fincredit.platform.demo.context import DemoContext


def _team(ctx: DemoContext, district: str) -> None:
    """The district team of ``district``, registered with its government organ's credit code (which
    names the district its boards may target)."""
    from fincredit.platform.demo.context import Actor

    uscc = generate_uscc(random.Random(district), district, authority="1", category="1")
    district_name = division_name(district) or district
    with ctx.services.tx() as session:
        create_organisation(
            session,
            org_id="nb-yinzhou-team",
            kind="district_team",
            name=f"{district_name}融资服务专班",
            uscc=uscc,
        )
        account = create_institution_account(
            session,
            ctx.services.authz,
            org_id="nb-yinzhou-team",
            username="yinzhou-api",
            real_name="孙专班",
            stated_use="thematic boards",
        )
        private_pem, public_pem = generate_key_pair()
        key = register_key(session, account.id, public_pem)
        ctx.actors["team"] = Actor("nb-yinzhou-team", account.id, key.kid, private_pem)


def step_board(ctx: DemoContext) -> str:
    """A district team opens and publishes a thematic board over its population; the bank attaches a
    loan product; the board's public page shows it (no personal data)."""
    code = ctx.data["enterprises"][4]
    region = code[2:8]
    _team(ctx, region)
    r = ctx.http.post(
        "/api/v1/boards",
        headers=ctx.as_("team"),
        json={
            "title": "科技创新企业融资专区",
            "description": "面向本区科技型中小企业的信用融资",
            "theme": "tech_innovation",
            "region": region,
            "rules": {"fact": "region", "op": "eq", "value": region},
        },
    )
    r.raise_for_status()
    board = r.json()["id"]
    ctx.http.patch(
        f"/api/v1/boards/{board}", headers=ctx.as_("team"), json={"status": "published"}
    ).raise_for_status()
    product = ctx.http.post(
        "/api/v1/free/matchmaking/products",
        headers=ctx.as_("bank"),
        json={
            "name": "科创信用贷",
            "amount_min": 100_000,
            "amount_max": 5_000_000,
            "term_min": 6,
            "term_max": 36,
            "rate_min": 3.45,
            "rate_max": 4.35,
            "rules": {"fact": "kind", "op": "eq", "value": "legal"},
        },
    )
    product.raise_for_status()
    ctx.http.post(
        f"/api/v1/boards/{board}/products", headers=ctx.as_("bank"), json={"product_id": product.json()["id"]}
    ).raise_for_status()
    page = ctx.http.get(f"/public/boards/{board}").json()
    ctx.data.update(board=board, board_enterprise=code, board_product=product.json()["id"])
    return (
        f"board {board} published for region {region}; public page lists {len(page['products'])} product(s)"
    )


def step_credit_score(ctx: DemoContext) -> str:
    """The platform's enterprise credit score (LightGBM, registered in MLflow) is bought by the bank for
    an enterprise under its consent; the score carries the model version and is billed per enterprise."""
    version = train_and_register(ctx.services.settings.var_dir, enterprises=500, seed=11)
    code = ctx.data["board_enterprise"]
    with ctx.services.tx() as session:
        subject = find_subject(session, ctx.services.keyring, code)
        session.merge(
            Entitlement(org_id=ctx.actors["bank"].org_id, product="market.credit_score", enabled=True)
        )
        sid = subject.id
    grant_consent(ctx.services, sid, ctx.actors["bank"].org_id, scopes=SCORE_SCOPES, modes=("query",))
    r = ctx.http.post(
        "/api/v1/market-products/credit-score",
        headers={**ctx.as_("bank"), "Idempotency-Key": uuid.uuid4().hex},
        json={"identifiers": [code]},
    )
    r.raise_for_status()
    score = r.json()["scores"][0]
    usage = ctx.http.get("/api/v1/billing/usage", headers=ctx.as_("bank")).json()
    used = next((p["used"] for p in usage.get("products", []) if p["product"] == "market.credit_score"), "?")
    return f"score {score['score']} ({score['grade']}) from model v{version}; units used this month: {used}"


def step_national(ctx: DemoContext) -> str:
    """The enterprise's financing need reaches the bank through the board; the bank grants the loan; the
    result goes to the provincial node through the outbox, and the node records it once."""
    code = ctx.data["board_enterprise"]
    with ctx.services.tx() as session:
        sid = find_subject(session, ctx.services.keyring, code).id
        session.add(
            FinancingNeed(
                id=f"need_{uuid.uuid4().hex[:16]}",
                subject_id=sid,
                account_id="demo",
                amount=1_500_000,
                term_months=24,
                use_of_funds="研发设备采购",
                status="open",
            )
        )
    grant_consent(
        ctx.services,
        sid,
        ctx.actors["bank"].org_id,
        purpose="financing_matchmaking",
        scopes=["market_registration"],
        modes=("query",),
    )
    ctx.http.post(
        f"/api/v1/boards/{ctx.data['board']}/matchmaking", headers=ctx.as_("team")
    ).raise_for_status()
    leads = [
        lead
        for lead in ctx.http.get("/api/v1/free/matchmaking/leads", headers=ctx.as_("bank")).json()
        if lead["product_id"] == ctx.data["board_product"]
    ]
    ctx.http.post(
        f"/api/v1/free/matchmaking/leads/{leads[0]['lead_id']}/outcome",
        headers=ctx.as_("bank"),
        json={"outcome": "granted"},
    ).raise_for_status()
    with ctx.services.tx() as session:
        queued = enqueue_granted(session, ctx.services)

    def post(url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        r = ctx.http.post(RECEIVER_PATH, json=body, headers=headers)
        return r.status_code, r.json()

    run = deliver_due(ctx.services, poster=post)
    page = ctx.http.get(f"/public/boards/{ctx.data['board']}").json()["statistics"]
    return (
        f"{queued} financing result(s) queued, {run.delivered} delivered to the provincial node; "
        f"board statistics {page}"
    )


def step_supervision(ctx: DemoContext) -> str:
    """The regulator downloads this month's operations report as PDF (and reads its figures as JSON)."""
    now = dt.datetime.now(dt.UTC)
    period = f"{now.year:04d}-{now.month:02d}"
    pdf = ctx.http.get(
        f"/api/v1/supervision/reports/monthly/{period}?format=pdf", headers=ctx.as_("regulator")
    )
    pdf.raise_for_status()
    path = ctx.services.settings.var_dir / f"operations-report-{period}.pdf"
    path.write_bytes(pdf.content)
    report = ctx.http.get(
        f"/api/v1/supervision/reports/monthly/{period}", headers=ctx.as_("regulator")
    ).json()
    revenue = Decimal(report["market_revenue"]["total"])
    return (
        f"{path.name} ({len(pdf.content)} bytes): {report['queries']} queries, "
        f"{report['matchmaking']['leads']} matchmaking leads, market revenue {revenue} CNY"
    )


PRODUCT_STEPS = [
    ("A district team publishes a thematic board", step_board),
    ("The bank buys the platform credit score under consent (metered)", step_credit_score),
    ("A loan granted through matchmaking is reported to the provincial node", step_national),
    ("The regulator downloads the monthly operations report", step_supervision),
]
