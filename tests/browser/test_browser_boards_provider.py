"""In a real Chromium at phone width: a district team opens a board, sees what is wrong in the form,
fixes it, publishes it with the keyboard and feeds its population into matchmaking; another team is
refused; anyone opens the public board pages without logging in (products, statistics, the monthly
chart); a provider files a nil report, downloads a submission's feedback CSV and verifies it.
Screenshots of every page land in test-artifacts/screenshots/."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from fincredit.platform.boards.tables import BoardProduct
from fincredit.platform.catalog import change_catalog, current_version
from fincredit.platform.core.db import utcnow
from fincredit.platform.free.tables import FinancingNeed, LoanProduct, MatchLead
from fincredit.platform.ingestion import due_date, local_date
from fincredit.platform.ingestion.tables import Submission, SubmissionFeedback
from fincredit.platform.testing.plugin import new_institution
from fincredit.platform.testing.seed import grant_consent, new_enterprise

from .conftest import login, shot, staff

pytestmark = [pytest.mark.browser, pytest.mark.slow]
REGION = "330225"  # 象山县


def _fits_phone(page) -> bool:  # type: ignore[no-untyped-def]
    """Nothing but the scrolling table wrappers is wider than the 390 px screen."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def _population(live, board_id: str) -> str:  # type: ignore[no-untyped-def]
    """A bank's product on the board and two enterprises of the region with open needs and consent."""
    services = live.services
    bank = new_institution(services, "bank")
    product_id = f"prod_{uuid.uuid4().hex[:16]}"
    with services.tx() as session:
        session.add(
            LoanProduct(
                id=product_id,
                org_id=bank.org_id,
                name="象山海洋贷",
                amount_min=100_000,
                amount_max=2_000_000,
                term_min=6,
                term_max=36,
                rate_min=3.55,
                rate_max=4.3,
                rules={"fact": "region", "op": "prefix", "value": "3302"},
                active=True,
            )
        )
        session.add(BoardProduct(board_id=board_id, product_id=product_id, org_id=bank.org_id))
    for amount in (900_000, 400_000):
        _code, sid = new_enterprise(services, region=REGION)
        grant_consent(
            services,
            sid,
            bank.org_id,
            purpose="financing_matchmaking",
            scopes=["market_registration"],
            modes=["query"],
        )
        with services.tx() as session:
            session.add(
                FinancingNeed(
                    id=f"need_{uuid.uuid4().hex[:16]}",
                    subject_id=sid,
                    account_id="acc_browser",
                    amount=amount,
                    term_months=12,
                    use_of_funds="购置渔船设备",
                    status="open",
                )
            )
    return product_id


def _grant_one(live, product_id: str) -> None:  # type: ignore[no-untyped-def]
    with live.services.tx() as session:
        lead = session.scalars(select(MatchLead).where(MatchLead.product_id == product_id)).first()
        assert lead is not None, "the board fed no lead to the bank"
        lead.outcome, lead.outcome_at = "granted", utcnow()


def test_team_edits_and_publishes_a_board_that_anyone_can_read(page, live) -> None:  # type: ignore[no-untyped-def]
    _team, username = staff(live, "district_team", district=REGION)
    login(page, live, username)
    assert page.url.endswith("/web/team/boards")
    shot(page, "team-boards")

    page.get_by_role("link", name="+ 新建板块").click()
    page.get_by_label("板块简介").fill("面向象山海洋经济企业的信用融资")
    page.get_by_label("主题").fill("green")
    page.get_by_label("地区").fill("象山")
    page.get_by_role("button", name="创建草稿").click()
    page.wait_for_load_state()
    summary = page.locator("#errors")
    assert summary.is_visible() and "请修改以下内容后再提交" in summary.inner_text()
    assert page.get_by_label("板块名称").get_attribute("aria-invalid") == "true"
    assert "数字形式的行政区划代码" in page.locator("#f-region-error").inner_text()
    assert page.get_by_label("板块简介").input_value() == "面向象山海洋经济企业的信用融资"  # kept
    shot(page, "team-board-form-errors")
    assert summary.get_by_role("link").first.get_attribute("href") == "#f-title"  # links to the field

    page.get_by_label("板块名称").fill("象山海洋经济企业专区")
    page.get_by_label("地区").fill(REGION)
    page.get_by_role("button", name="创建草稿").click()
    page.wait_for_load_state()
    assert "草稿已创建" in page.locator(".notice").inner_text()
    board_id = page.url.split("/")[-1].split("?")[0]
    assert "象山县" in page.locator("#rule-in-words").inner_text()
    shot(page, "team-board-draft")

    publish = page.get_by_role("button", name="发布", exact=True)
    publish.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")  # keyboard only
    assert "板块已发布" in page.locator(".notice").inner_text()
    assert _fits_phone(page)

    product_id = _population(live, board_id)
    page.get_by_role("button", name="推送融资需求").click()
    page.wait_for_load_state()
    assert "新推送 2 项融资需求" in page.locator("#fed").inner_text()
    _grant_one(live, product_id)
    shot(page, "team-board-published")

    # Another team may not edit it.
    _other, other_name = staff(live, "sector_team")
    page.context.clear_cookies()
    login(page, live, other_name)
    response = page.goto(f"{live.url}/web/team/boards/{board_id}")
    assert response is not None and response.status == 403
    assert "无权访问" in page.locator("main").inner_text()
    shot(page, "team-board-other-team-refused")

    # Anyone, without logging in.
    page.context.clear_cookies()
    page.goto(f"{live.url}/web/")
    page.get_by_role("link", name="专题板块").click()
    page.wait_for_load_state()
    assert "象山海洋经济企业专区" in page.locator("main").inner_text()
    shot(page, "boards-public-list")
    page.get_by_role("link", name="象山海洋经济企业专区").click()
    page.wait_for_load_state()
    assert "象山海洋贷" in page.locator("#products").inner_text()
    stats = page.locator("#statistics").inner_text()
    assert "触达企业\n2" in stats and "获贷笔数\n1" in stats
    chart = page.locator("#board-chart")
    assert chart.is_visible() and chart.locator("rect").count() >= 1 and chart.locator("circle").count() >= 1
    assert _fits_phone(page)
    shot(page, "board-public")
    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    assert "Enterprises reached" in page.locator("#statistics").inner_text()
    shot(page, "board-public-en")
    page.context.clear_cookies()


def _provider_with_feedback(live) -> tuple[str, int, str]:  # type: ignore[no-untyped-def]
    inst, username = staff(live, "data_provider")
    item = "admin_licence"
    today = local_date(utcnow())
    last = f"{today.year - 1:04d}-12" if today.month == 1 else f"{today.year:04d}-{today.month - 1:02d}"
    now = utcnow()
    with live.services.tx() as session:
        change_catalog(
            session, changes={item: {"provider_org_id": inst.org_id}}, created_by=None, note="browser"
        )
        sub = Submission(
            provider_org_id=inst.org_id,
            item_code=item,
            catalog_version_id=current_version(session).id,
            month=last,
            kind="file",
            channel="api",
            received_at=now,
            due_date=due_date(last),
            late=False,
            status="processed",
            rows_total=120,
            rows_rejected=1,
            processing_due=today + dt.timedelta(days=7),
            processed_at=now,
            verification_due=today + dt.timedelta(days=7),
        )
        session.add(sub)
        session.flush()
        session.add(
            SubmissionFeedback(
                submission_id=sub.id,
                row=41,
                provider_record_id="LIC-0042",
                field="licence_no",
                reason="missing_required",
                detail="许可证编号为空",
            )
        )
        return username, sub.id, item


def test_provider_files_a_nil_report_downloads_feedback_and_verifies(page, live, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    username, sub_id, item = _provider_with_feedback(live)
    login(page, live, username)
    assert page.url.endswith("/web/provider")
    assert "下一个报送截止日" in page.locator("#next-due").inner_text()
    shot(page, "provider-deadlines")

    today = local_date(utcnow())
    month = f"{today.year:04d}-{today.month:02d}"
    page.get_by_role("button", name=f"为 行政许可信息 {month} 提交零报告").click()  # the item, by its name
    page.wait_for_load_state()
    assert "零报告已提交" in page.locator(".notice").inner_text()
    assert "已零报告" in page.locator(f"#d-{item}-{month}").inner_text()

    row = page.locator(f"#s-{sub_id}")
    with page.expect_download() as download_info:
        row.get_by_role("link", name="下载 CSV（1 行有问题）").click()
    target = tmp_path / "feedback.csv"
    download_info.value.save_as(target)
    text = target.read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == "文件行号,记录编号,字段,问题,说明"
    assert "LIC-0042" in text and "许可证编号为空" in text
    assert "个工作日" in row.inner_text()
    shot(page, "provider-submissions")

    row.get_by_label("核实说明").fill("已补录许可证编号")
    row.get_by_role("button", name="确认已核实").click()
    page.wait_for_load_state()
    assert "已记录核实" in page.locator(".notice").inner_text()
    assert "已核实" in page.locator(f"#s-{sub_id}").inner_text()
    assert _fits_phone(page)
    shot(page, "provider-verified")
