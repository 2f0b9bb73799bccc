"""Supervision (G§18-22, R§22): the monthly operations report is generated from the data — checked
here against a hand-counted fixture month far from every other test's data — and downloadable as
JSON, CSV and PDF; plans are filed, inspections recorded with findings and remediation, experts pooled."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
from decimal import Decimal

from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from fincredit.platform.catalog import current_version
from fincredit.platform.core.db import AuditEvent, utcnow
from fincredit.platform.core.web.formats import cny
from fincredit.platform.free.tables import FinancingNeed, LoanProduct, MatchLead
from fincredit.platform.ingestion.tables import Submission
from fincredit.platform.market import china_date
from fincredit.platform.metered.billing import Usage, record_usage
from fincredit.platform.metered.billing.tables import Entitlement
from fincredit.platform.objections import list_objections
from fincredit.platform.testing.plugin import auth, new_institution
from fincredit.platform.testing.seed import new_enterprise

# A code as programs write it (tax_rating, overdue_open): never in a document meant for people.
SNAKE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")
PERIOD = "2031-03"
AT = dt.datetime(2031, 3, 15, 4, tzinfo=dt.UTC)


def _fixture_month(services) -> str:  # type: ignore[no-untyped-def]
    """Hand count: 3 submissions (1 late, 1 nil); 3 refused + 1 failed API calls (2 fine ones);
    3 matchmaking leads (granted, declined, open); 130 credit scores for one bank = 15.00 CNY."""
    bank = new_institution(services, "bank")
    provider = new_institution(services, "data_provider")
    _, sid = new_enterprise(services)
    with services.tx() as session:
        version = current_version(session).id
        for kind, late in (("file", False), ("file", True), ("nil", False)):
            session.add(
                Submission(
                    provider_org_id=provider.org_id,
                    item_code="tax_rating",
                    catalog_version_id=version,
                    month=PERIOD,
                    kind=kind,
                    channel="api",
                    received_at=AT,
                    due_date=dt.date(2031, 4, 10),
                    late=late,
                    status="processed" if kind == "file" else "nil",
                    processing_due=dt.date(2031, 4, 15),
                )
            )
        for outcome, status in (
            ("refused", 403),
            ("refused", 401),
            ("refused", 429),
            ("error", 500),
            ("ok", 200),
            ("ok", 201),
        ):
            session.add(
                AuditEvent(
                    at=AT,
                    request_id=uuid.uuid4().hex,
                    account_id=None,
                    org_id=bank.org_id,
                    method="POST",
                    route="/api/v1/market-products/credit-score",
                    path="/api/v1/market-products/credit-score",
                    status=status,
                    outcome=outcome,
                    duration_ms=1.0,
                )
            )
        product = LoanProduct(
            id=f"prod_{uuid.uuid4().hex[:16]}",
            org_id=bank.org_id,
            name="监管测试贷",
            amount_min=1,
            amount_max=1e8,
            term_min=1,
            term_max=60,
            rate_min=3.0,
            rate_max=4.0,
            rules={"fact": "kind", "op": "exists"},
            active=True,
        )
        session.add(product)
        for outcome in ("granted", "declined", None):
            need = FinancingNeed(
                id=f"need_{uuid.uuid4().hex[:16]}",
                subject_id=sid,
                account_id="acc",
                amount=100_000,
                term_months=12,
                use_of_funds="测试",
                status="open",
                created_at=AT,
            )
            session.add(need)
            session.flush()
            session.add(
                MatchLead(
                    need_id=need.id,
                    product_id=product.id,
                    org_id=bank.org_id,
                    score=1.0,
                    created_at=AT,
                    outcome=outcome,
                )
            )
        session.add(Entitlement(org_id=bank.org_id, product="market.credit_score", enabled=True))
        session.flush()
        record_usage(
            session, Usage(product="market.credit_score", org_id=bank.org_id, quantity=Decimal(130), time=AT)
        )
    return bank.org_id


def test_monthly_report_matches_the_hand_count_in_every_format(services, client) -> None:  # type: ignore[no-untyped-def]
    bank_id = _fixture_month(services)
    regulator = new_institution(services, "regulator")
    headers = auth(client, regulator)
    r = client.get(f"/api/v1/supervision/reports/monthly/{PERIOD}", headers=headers)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["submissions"] == {"total": 3, "late": 1, "nil": 1}
    # 2031-03 has not ended, so its overdue figure is today's: exactly the supervision page's list.
    with services.read() as session:
        overdue_now = len(list_objections(session, overdue_only=True, limit=1_000_000))
    assert report["objections"] == {"filed": 0, "resolved": 0, "overdue_open": overdue_now}
    assert report["queries"] == 0 and report["pushes"] == {}
    assert report["matchmaking"] == {"leads": 3, "by_outcome": {"declined": 1, "granted": 1, "none": 1}}
    assert report["market_revenue"]["total"] == "15.00"
    assert [(i["org_id"], i["total"]) for i in report["market_revenue"]["institutions"]] == [
        (bank_id, "15.00")
    ]
    assert (report["security_events"]["refused"], report["security_events"]["failed"]) == (3, 1)

    as_csv = client.get(f"/api/v1/supervision/reports/monthly/{PERIOD}?format=csv", headers=headers)
    assert as_csv.text.startswith("月份,类别,指标,数值\n")
    rows = {(r["类别"], r["指标"]): r["数值"] for r in csv.DictReader(io.StringIO(as_csv.text))}
    assert rows[("数据报送", "其中逾期报送")] == "1" and rows[("市场化服务收入", "合计")] == "15.00 元"
    assert rows[("安全事件", "被拒绝的调用")] == "3" and rows[("融资对接", "已放款")] == "1"
    pdf = client.get(f"/api/v1/supervision/reports/monthly/{PERIOD}?format=pdf", headers=headers)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    for words in ("月度运行报告", "2031年3月", "情况概述", "数据报送", "异议处理", "15.00 元", "1 / 1"):
        assert words in text, words
    assert not SNAKE.search(text), SNAKE.findall(text)
    xlsx = client.get(f"/api/v1/supervision/reports/monthly/{PERIOD}?format=xlsx", headers=headers)
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    cells = {str(row[0]): row[1] for row in sheet.iter_rows(values_only=True) if row and row[0]}
    assert str(sheet["A1"].value).startswith("月度运行报告") and "平台共收到数据报送 3 批次" in str(
        sheet["A2"].value
    )
    assert cells["报送批次"] == 3 and cells["被拒绝的调用"] == 3 and cells["合计"] == "15.00 元"

    annual = client.get("/api/v1/supervision/reports/annual/2031", headers=headers).json()
    assert (annual["submissions"], annual["loans_granted"], annual["market_revenue_cny"]) == (3, 1, "15.00")
    assert annual["submissions_on_time_rate"] == round(2 / 3, 4)
    bank = new_institution(services, "bank")
    assert (
        client.get(f"/api/v1/supervision/reports/monthly/{PERIOD}", headers=auth(client, bank)).status_code
        == 403
    )


def test_plans_inspections_with_remediation_and_experts(services, client) -> None:  # type: ignore[no-untyped-def]
    operator, authority = (
        new_institution(services, "platform_operator"),
        new_institution(services, "credit_authority"),
    )
    oh, ah = auth(client, operator), auth(client, authority)
    plan = client.post(
        "/api/v1/supervision/plans",
        headers=oh,
        json={"year": 2027, "kind": "work_plan", "title": "2027年度工作计划", "content": "一、数据归集……"},
    )
    assert plan.status_code == 201, plan.text
    assert plan.json()["id"] in [
        p["id"] for p in client.get("/api/v1/supervision/plans?year=2027", headers=ah).json()
    ]
    assert (
        client.post(
            "/api/v1/supervision/plans",
            headers=ah,
            json={"year": 2027, "kind": "work_plan", "title": "x", "content": "y"},
        ).status_code
        == 403
    )

    insp = client.post(
        "/api/v1/supervision/inspections",
        headers=ah,
        json={
            "inspected_org_id": operator.org_id,
            "inspected_on": "2026-11-02",
            "inspector": "市信用办安全检查组",
            "findings": [
                {"severity": "high", "text": "备份未异地保存", "remediation_due": "2026-12-01"},
                {"severity": "low", "text": "值班记录不全"},
            ],
        },
    )
    assert insp.status_code == 201, insp.text
    assert insp.json()["open_findings"] == 2
    fixed = client.post(
        f"/api/v1/supervision/inspections/{insp.json()['id']}/findings/1/remediation",
        headers=oh,
        json={"remediation": "已配置异地备份", "remediated_on": "2026-11-20"},
    )
    assert fixed.status_code == 200 and fixed.json()["open_findings"] == 1
    again = client.post(
        f"/api/v1/supervision/inspections/{insp.json()['id']}/findings/1/remediation",
        headers=oh,
        json={"remediation": "x", "remediated_on": "2026-11-21"},
    )
    assert again.status_code == 409

    expert = client.post(
        "/api/v1/supervision/experts",
        headers=ah,
        json={"name": "李教授", "field": f"风控{uuid.uuid4().hex[:4]}", "affiliation": "宁波大学"},
    )
    assert expert.status_code == 201
    field = expert.json()["field"]
    assert [
        e["name"] for e in client.get(f"/api/v1/supervision/experts?field={field}", headers=ah).json()
    ] == ["李教授"]


def test_the_report_page_and_the_supervision_page_agree(services, client) -> None:  # type: ignore[no-untyped-def]
    """The report opens on the current month, and its figures are those of the records page: an objection
    past its platform deadline that has moved on to the provider (whose deadline has not passed) is not
    overdue on either; one still waiting for the platform past its deadline is overdue on both."""
    from fincredit.platform.ingestion.tables import CreditRecord
    from fincredit.platform.objections.tables import Objection as ObjectionRow
    from fincredit.platform.testing.plugin import staff_web_login, with_web_password
    from fincredit.platform.testing.seed import load_records

    ident, sid = new_enterprise(services)
    load_records(
        services,
        "tax_rating",
        ident,
        [{"provider_record_id": f"T-{sid}", "rating_year": 2025, "rating": "B", "rated_date": "2025-04-01"}],
    )
    today = dt.date.today()
    with services.tx() as session:
        record = session.scalars(select(CreditRecord).where(CreditRecord.subject_id == sid)).one()
        for status, platform_due, provider_due in (
            ("platform_review", today - dt.timedelta(days=3), None),  # overdue
            ("provider_review", today - dt.timedelta(days=3), today + dt.timedelta(days=5)),  # on time
        ):
            session.add(
                ObjectionRow(
                    record_id=record.id,
                    subject_id=sid,
                    provider_org_id=record.provider_org_id,
                    item_code="tax_rating",
                    provider_record_id=record.provider_record_id,
                    filed_by="acc",
                    reason="测试",
                    status=status,
                    filed_at=utcnow() - dt.timedelta(days=20),
                    platform_due=platform_due,
                    provider_due=provider_due,
                )
            )
    regulator = new_institution(services, "credit_authority")
    username = with_web_password(services, regulator, "report-pass-2026")
    staff_web_login(client, services, username, "report-pass-2026")
    period = china_date(utcnow()).strftime("%Y-%m")
    report = client.get(f"/api/v1/supervision/reports/monthly/{period}").json()
    page = client.get("/web/regulator/report").text
    records = client.get("/web/regulator/supervision").text
    overdue_table = records.split('id="overdue"')[1].split("</table>")[0]
    overdue_rows = len(re.findall(r'<tr class="refused"><td>\d+</td>', overdue_table))
    assert f"超期未办结的异议 ({overdue_rows})" in records
    assert report["objections"]["overdue_open"] == overdue_rows >= 1
    assert period in page.split('id="period-heading"')[1][:40]
    assert f"超期未结 {overdue_rows}" in page
    assert str(report["queries"]) in page and cny(report["market_revenue"]["total"]) in page
