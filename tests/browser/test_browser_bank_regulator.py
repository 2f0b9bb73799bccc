"""In a real Chromium at phone width: a bank opens its joint-modelling jobs from the navigation and
sees a completed job's AUC/KS with the ROC curve and KS chart drawn; a supervisor picks a month of the
operations report and downloads its CSV, then filters the supervision records. Screenshots of every
new page land in test-artifacts/screenshots/."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from fincredit.platform.identity.principal import Principal
from fincredit.platform.supervision import add_expert, file_plan, record_inspection
from fincredit.platform.testing.plugin import new_institution

from ..platform.test_web_bank_regulator import held_out_evaluation, seed_job
from .conftest import login, shot, staff

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_bank_sees_its_joint_model_with_roc_and_ks_charts(page, live) -> None:  # type: ignore[no-untyped-def]
    bank, username = staff(live, "bank")
    job_id = seed_job(live.services, bank)
    seed_job(live.services, bank, state="training", purpose="贷后预警模型")
    ev = held_out_evaluation()

    login(page, live, username)
    page.get_by_role("link", name="联合建模", exact=True).click()
    page.wait_for_load_state()
    assert page.locator("#jobs tbody tr").count() == 2
    assert f"{ev['auc_joint']:.3f}" in page.locator(f"#job-{job_id}").inner_text()
    shot(page, "bank-jobs")

    page.get_by_role("link", name="小微企业评分卡").click()
    page.wait_for_load_state()
    roc, ks = page.get_by_role("img", name="ROC 曲线"), page.get_by_role("img", name="KS 图")
    assert roc.is_visible() and ks.is_visible()
    box = roc.bounding_box()
    assert box is not None and box["width"] <= 390  # fits a phone-width screen
    assert f"{ev['auc_joint']:.4f}" in page.locator("#metrics").inner_text()
    assert page.locator("svg polyline.line-a").count() == 2  # the joint ROC curve and the bads' curve
    shot(page, "bank-job-evaluation")


def test_supervisor_reads_and_downloads_the_report_and_filters_records(page, live) -> None:  # type: ignore[no-untyped-def]
    authority, username = staff(live, "credit_authority")
    bank = new_institution(live.services, "bank")
    principal = Principal(
        authority.account_id, "institution", authority.org_id, "credit_authority", authority.org_id
    )
    with live.services.tx() as session:
        record_inspection(
            session,
            principal,
            {
                "inspected_org_id": bank.org_id,
                "inspected_on": dt.date(2026, 2, 9),
                "inspector": "检查组乙",
                "findings": [
                    {"severity": "critical", "text": "密钥明文存放", "remediation_due": "2026-03-01"},
                    {"severity": "low", "text": "日志保留期限不足"},
                ],
            },
        )
        file_plan(
            session,
            principal,
            {"year": 2026, "kind": "work_plan", "title": "2026 年度工作计划", "content": "全年目标"},
        )
        add_expert(session, {"name": "王专家", "field": "信息安全", "affiliation": "宁波大学"})

    login(page, live, username)
    page.get_by_role("link", name="月度报告").click()
    page.wait_for_load_state()
    period = dt.datetime.now(dt.UTC).strftime("%Y-%m")
    page.get_by_label("月份", exact=True).fill(period)
    page.get_by_role("button", name="查看").click()
    page.wait_for_load_state()
    assert period in page.locator("#period-heading").inner_text()
    shot(page, "regulator-report")
    with page.expect_download() as download:
        page.locator("#downloads").get_by_role("link", name="CSV").click()
    path = download.value.path()
    assert Path(path).read_text(encoding="utf-8").startswith("月份,类别,指标,数值")

    page.get_by_role("link", name="年度评估").click()
    page.wait_for_load_state()
    page.get_by_label("年度", exact=True).fill(period[:4])
    page.get_by_role("button", name="查看").click()
    page.wait_for_load_state()
    assert period[:4] in page.locator("#annual-heading").inner_text()
    shot(page, "regulator-annual")

    page.get_by_role("link", name="监管记录").click()
    page.wait_for_load_state()
    page.get_by_label("机构", exact=True).fill(bank.org_id)
    page.get_by_label("严重程度").select_option("critical")
    page.get_by_label("仅未整改").check()
    page.get_by_role("button", name="筛选").click()
    page.wait_for_load_state()
    text = page.locator("main").inner_text()
    assert "密钥明文存放" in text and "日志保留期限不足" not in text and "王专家" in text
    shot(page, "regulator-supervision-filtered")
