"""Metered market services: idempotent usage, quotas enforced before work, billing exactly when the work
commits, graduated prices, and statements that reconcile with the raw events."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from fincredit.platform.core.errors import Forbidden, PaymentRequired, QuotaExceeded
from fincredit.platform.metered.billing import (
    Usage,
    build_statement,
    charge_for,
    ensure_allowed,
    record_usage,
)
from fincredit.platform.metered.billing.tables import CreditLimit, Entitlement, Price, UsageEvent
from fincredit.platform.testing.plugin import auth, new_institution

SCORING = "market.encrypted_scoring"
SCORE = "market.credit_score"


def _entitle(services, org_id: str, product: str, quota: Decimal | None = None) -> None:  # type: ignore[no-untyped-def]
    with services.tx() as session:
        session.add(Entitlement(org_id=org_id, product=product, enabled=True, monthly_quota=quota))


def _events(services, org_id: str) -> int:  # type: ignore[no-untyped-def]
    with services.read() as session:
        return int(
            session.scalar(select(func.count()).select_from(UsageEvent).where(UsageEvent.org_id == org_id))
        )


def test_graduated_price_with_free_allowance_by_hand() -> None:
    price = Price(
        model="graduated",
        unit_price=Decimal(0),
        free_units=Decimal(1000),
        tiers=[{"up_to": "10000", "unit_price": "0.05"}, {"up_to": None, "unit_price": "0.02"}],
    )
    assert charge_for(price, Decimal(800)) == 0
    assert charge_for(price, Decimal(1000 + 10_000)) == Decimal("500.00")  # 10,000 × 0.05
    assert charge_for(price, Decimal(1000 + 12_500)) == Decimal("550.00")  # + 2,500 × 0.02
    flat = Price(model="per_call", unit_price=Decimal("0.50"), free_units=Decimal(100), tiers=[])
    assert charge_for(flat, Decimal(130)) == Decimal("15.00")


def test_same_event_is_counted_once(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    operator = new_institution(services, "platform_operator")
    event = {
        "id": uuid.uuid4().hex,
        "source": "scoring-node-1",
        "product": SCORING,
        "subject": bank.org_id,
        "time": dt.datetime.now(dt.UTC).isoformat(),
        "quantity": "250",
    }
    headers = auth(client, operator)
    first = client.post("/api/v1/metering/events", headers=headers, json={"events": [event]})
    second = client.post("/api/v1/metering/events", headers=headers, json={"events": [event, event]})
    assert first.json() == {"accepted": 1, "duplicates": 0}
    assert second.json() == {"accepted": 0, "duplicates": 2}
    assert _events(services, bank.org_id) == 1


def test_only_the_operator_pushes_usage_events(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    r = client.post(
        "/api/v1/metering/events",
        headers=auth(client, bank),
        json={
            "events": [
                {
                    "id": "x",
                    "source": "me",
                    "product": SCORING,
                    "subject": bank.org_id,
                    "time": dt.datetime.now(dt.UTC).isoformat(),
                    "quantity": "1",
                }
            ]
        },
    )
    assert r.status_code == 403


def test_no_entitlement_is_refused_before_work(services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    with pytest.raises(Forbidden), services.tx() as session:
        ensure_allowed(session, bank.org_id, SCORING, 1)


def test_quota_is_enforced_before_the_work_with_a_problem_naming_it(services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    _entitle(services, bank.org_id, SCORING, Decimal(100))
    with services.tx() as session:
        ensure_allowed(session, bank.org_id, SCORING, 60)
        record_usage(session, Usage(product=SCORING, org_id=bank.org_id, quantity=Decimal(60)))
    work_done = []
    with pytest.raises(QuotaExceeded) as info, services.tx() as session:
        ensure_allowed(session, bank.org_id, SCORING, 41)
        work_done.append("scored")  # never reached
    assert work_done == []
    assert info.value.status == 429 and info.value.extensions["quota"] == f"{SCORING}:monthly"
    assert info.value.extensions["used"] == "60.0000" or Decimal(info.value.extensions["used"]) == 60


def test_credit_limit_refuses_with_402(services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    _entitle(services, bank.org_id, SCORE)
    with services.tx() as session:
        session.add(CreditLimit(org_id=bank.org_id, monthly_limit=Decimal("10.00")))
    with services.tx() as session:  # 100 free + 20 × 0.50 = 10.00: exactly the limit
        ensure_allowed(session, bank.org_id, SCORE, 120)
        record_usage(session, Usage(product=SCORE, org_id=bank.org_id, quantity=Decimal(120)))
    with pytest.raises(PaymentRequired) as info, services.tx() as session:
        ensure_allowed(session, bank.org_id, SCORE, 1)
    assert info.value.status == 402 and info.value.extensions["quota"] == "credit_limit:monthly"


def test_failed_work_is_not_billed_and_successful_work_always_is(services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    _entitle(services, bank.org_id, SCORING)
    with pytest.raises(RuntimeError), services.tx() as session:
        ensure_allowed(session, bank.org_id, SCORING, 5)
        record_usage(session, Usage(product=SCORING, org_id=bank.org_id, quantity=Decimal(5)))
        raise RuntimeError("scoring failed after metering was written")
    assert _events(services, bank.org_id) == 0
    with services.tx() as session:
        ensure_allowed(session, bank.org_id, SCORING, 5)
        record_usage(session, Usage(product=SCORING, org_id=bank.org_id, quantity=Decimal(5)))
    assert _events(services, bank.org_id) == 1


def test_statement_reconciles_with_raw_events_in_every_format(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    when = dt.datetime(2026, 10, 15, 9, 30, tzinfo=dt.UTC)
    quantities = [Decimal(4000), Decimal(5000), Decimal(3500)]  # 12,500 applicants
    with services.tx() as session:
        for q in quantities:
            record_usage(session, Usage(product=SCORING, org_id=bank.org_id, quantity=q, time=when))
        for _ in range(130):
            record_usage(session, Usage(product=SCORE, org_id=bank.org_id, quantity=Decimal(1), time=when))
        # An event in the next month belongs to the next statement.
        record_usage(
            session,
            Usage(
                product=SCORE,
                org_id=bank.org_id,
                quantity=Decimal(1),
                time=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
            ),
        )
    with services.read() as session:
        st = build_statement(session, bank.org_id, "2026-10")
    lines = {line.product: line for line in st.lines}
    # By hand: scoring 1,000 free, 10,000 × 0.05 + 1,500 × 0.02 = 530.00; score 100 free, 30 × 0.50 = 15.00.
    assert lines[SCORING].units == 12_500 and lines[SCORING].amount == Decimal("530.00")
    assert lines[SCORE].units == 130 and lines[SCORE].amount == Decimal("15.00")
    assert st.total == Decimal("545.00") and st.events == 133
    headers = auth(client, bank)
    as_json = client.get("/api/v1/billing/statements/2026-10", headers=headers).json()
    assert as_json["total"] == "545.00" and as_json["events_digest"] == st.events_digest
    rows = list(
        csv.DictReader(
            io.StringIO(client.get("/api/v1/billing/statements/2026-10?format=csv", headers=headers).text)
        )
    )
    assert sum(Decimal(r["金额(元)"]) for r in rows if r["产品"] != "合计") == Decimal("545.00")
    assert {r["产品"] for r in rows} >= {"加密评分", "合计"} and "12,500 人次" in {r["用量"] for r in rows}
    pdf = client.get("/api/v1/billing/statements/2026-10?format=pdf", headers=headers)
    assert pdf.headers["content-type"] == "application/pdf"
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert "月度账单" in text and "545.00" in text and "加密评分" in text and "北京时间" in text


def test_institutions_see_only_their_own_statements_regulators_see_totals(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    other = new_institution(services, "bank")
    regulator = new_institution(services, "regulator")
    with services.tx() as session:
        record_usage(
            session,
            Usage(
                product=SCORE,
                org_id=other.org_id,
                quantity=Decimal(1),
                time=dt.datetime(2026, 9, 3, tzinfo=dt.UTC),
            ),
        )
    r = client.get(
        f"/api/v1/billing/organisations/{other.org_id}/statements/2026-09", headers=auth(client, bank)
    )
    assert r.status_code == 403
    totals = client.get("/api/v1/billing/totals/2026-09", headers=auth(client, regulator)).json()
    assert any(t["org_id"] == other.org_id and t["events"] == 1 for t in totals)


def test_usage_shows_quota_balance(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    _entitle(services, bank.org_id, SCORING, Decimal(1000))
    with services.tx() as session:
        record_usage(session, Usage(product=SCORING, org_id=bank.org_id, quantity=Decimal(300)))
    usage = client.get("/api/v1/billing/usage", headers=auth(client, bank)).json()
    scoring = next(p for p in usage["products"] if p["product"] == SCORING)
    assert Decimal(scoring["used"]) == 300 and Decimal(scoring["remaining"]) == 700 and scoring["enabled"]
