"""The bank's joint-modelling pages and the supervisor's report and records pages, over HTTP: a bank sees
only its own jobs (another bank's job is refused, never shown), a completed job shows AUC/KS and its ROC
curve and KS chart as SVG drawn from the stored curve points; only supervisors open the monthly report
and the supervision records, whose figures and filters match the data."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
from sklearn.metrics import roc_auc_score

from fincredit.federation.training import evaluation_curves, ks_statistic
from fincredit.platform.core.db import utcnow
from fincredit.platform.core.web.formats import cny
from fincredit.platform.identity.principal import Principal
from fincredit.platform.market import china_date
from fincredit.platform.metered.joint_lab.schemas import EvaluationIn
from fincredit.platform.metered.joint_lab.tables import JointJob
from fincredit.platform.supervision import add_expert, file_plan, record_inspection
from fincredit.platform.testing.plugin import (
    Institution,
    auth,
    new_institution,
    staff_web_login,
    with_web_password,
)

PASSWORD = "staff-pass-2026"


def _login(client, services, inst: Institution) -> None:  # type: ignore[no-untyped-def]
    client.cookies.clear()
    username = with_web_password(services, inst, PASSWORD)
    r = staff_web_login(client, services, username, PASSWORD)
    assert r.status_code == 303, r.text


def held_out_evaluation(seed: int = 7, n: int = 400) -> dict:  # type: ignore[type-arg]
    """What the bank's SDK reports for a held-out split (the same fields and curves), from synthetic
    labels and two scores: the joint one carries more signal than the bank-only one."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    joint = y * 1.2 + rng.normal(size=n)
    bank = y * 0.5 + rng.normal(size=n)
    auc_joint, auc_bank = float(roc_auc_score(y, joint)), float(roc_auc_score(y, bank))
    return EvaluationIn(
        algorithm="logistic",
        rows_train=4 * n,
        rows_test=n,
        auc_joint=auc_joint,
        ks_joint=ks_statistic(y, joint),
        auc_bank_only=auc_bank,
        ks_bank_only=ks_statistic(y, bank),
        auc_uplift=auc_joint - auc_bank,
        training_seconds=12.5,
        total_seconds=14.0,
        bytes_sent=123_456,
        bytes_received=654_321,
        curves={"joint": evaluation_curves(y, joint), "bank_only": evaluation_curves(y, bank)},
    ).model_dump()


def seed_job(
    services, inst: Institution, *, state: str = "completed", purpose: str = "小微企业评分卡"
) -> str:  # type: ignore[no-untyped-def]
    """A job row as the joint lab leaves it (training has its own tests): completed with the bank's
    reported evaluation, or still in an earlier state without one."""
    now = utcnow()
    job_id = f"jm-web-{inst.org_id}-{state}"
    with services.tx() as session:
        session.add(
            JointJob(
                id=job_id,
                org_id=inst.org_id,
                account_id=inst.account_id,
                purpose=purpose,
                algorithm="logistic",
                catalog_items=["tax"],
                market_datasets=[],
                platform_features=["tax_rating_latest", "tax_rating_worst_3y"],
                state=state,
                status="completed; the model can score" if state == "completed" else "training",
                platform_size=500,
                aligned=480,
                consent_count=480,
                consent_digest="ab" * 32,
                fill_values={},
                evaluation=held_out_evaluation() if state == "completed" else {},
                mlflow_run_id="run123" if state == "completed" else None,
                created_at=now - dt.timedelta(minutes=3),
                updated_at=now,
                completed_at=now if state == "completed" else None,
            )
        )
    return job_id


def test_completed_job_shows_auc_ks_and_both_charts(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    done = seed_job(services, bank)
    running = seed_job(services, bank, state="training", purpose="贷后预警模型")
    _login(client, services, bank)
    overview = client.get("/web/bank").text
    assert 'href="/web/bank/jobs"' in overview  # the overview links to the jobs
    listing = client.get("/web/bank/jobs")
    assert listing.status_code == 200
    assert (
        f'href="/web/bank/jobs/{done}"' in listing.text and f'href="/web/bank/jobs/{running}"' in listing.text
    )
    ev = held_out_evaluation()
    assert f"{ev['auc_joint']:.3f}" in listing.text and "训练中" in listing.text
    page = client.get(f"/web/bank/jobs/{done}").text
    assert f"{ev['auc_joint']:.4f}" in page and f"{ev['ks_bank_only']:.4f}" in page
    svgs = re.findall(r"<svg[^>]*role=\"img\"[^>]*>.*?</svg>", page, flags=re.S)
    assert len(svgs) == 2  # the ROC curve and the KS chart, each with a title and a description
    roc, ks = svgs
    assert "<title" in roc and "<desc" in roc and f"AUC {ev['auc_joint']:.3f}" in roc
    points = re.findall(r'<polyline points="([^"]+)" class="line-a"', roc)[0].split()
    assert 50 <= len(points) <= 101  # thinned to about a hundred points
    assert "KS " in ks and ks.count("<polyline") == 3  # bads, goods and the widest gap
    english = client.get(f"/web/bank/jobs/{done}", params={"lang": "en"}).text
    assert "ROC curve" in english and "Joint model" in english
    # A job still training has no evaluation yet, and says so.
    assert "任务完成后显示评估" in client.get(f"/web/bank/jobs/{running}", params={"lang": "zh"}).text


def test_a_job_without_curves_still_shows_its_numbers(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    job_id = seed_job(services, bank)
    with services.tx() as session:
        row = session.get(JointJob, job_id)
        row.evaluation = {k: v for k, v in row.evaluation.items() if k != "curves"}
    _login(client, services, bank)
    page = client.get(f"/web/bank/jobs/{job_id}").text
    assert 'id="no-curves"' in page and "<svg" not in page and "AUC" in page


def test_a_bank_sees_only_its_own_jobs(client, services) -> None:  # type: ignore[no-untyped-def]
    owner, other = new_institution(services, "bank"), new_institution(services, "bank")
    job_id = seed_job(services, owner, purpose="别家银行的模型")
    _login(client, services, other)
    listing = client.get("/web/bank/jobs").text
    assert job_id not in listing and "别家银行的模型" not in listing and "暂无联合建模任务" in listing
    r = client.get(f"/web/bank/jobs/{job_id}")
    assert r.status_code == 403 and "别家银行的模型" not in r.text and "无权访问" in r.text
    assert client.get("/web/bank/jobs/jm-no-such-job").status_code == 404


def test_only_supervisors_open_the_report_and_records(client, services) -> None:  # type: ignore[no-untyped-def]
    for path in ("/web/regulator/report", "/web/regulator/report/annual", "/web/regulator/supervision"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/web/login")
    bank = new_institution(services, "bank")
    _login(client, services, bank)
    for path in ("/web/regulator/report", "/web/regulator/report/annual", "/web/regulator/supervision"):
        r = client.get(path)
        assert r.status_code == 403 and "无权访问" in r.text
    regulator = new_institution(services, "regulator")
    _login(client, services, regulator)
    assert client.get("/web/bank/jobs").status_code == 403  # a supervisor does not run a bank's models


def test_monthly_report_renders_the_month_and_offers_its_downloads(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    regulator = new_institution(services, "credit_authority")
    # A refused API call this month is a security event the report counts.
    assert (
        client.get("/api/v1/supervision/reports/monthly/2026-01", headers=auth(client, bank)).status_code
        == 403
    )
    _login(client, services, regulator)
    period = utcnow().strftime("%Y-%m")
    r = client.get("/web/regulator/report", params={"period": period})
    assert r.status_code == 200
    page = r.text
    assert f'value="{period}"' in page and period in page
    for fmt in ("pdf", "xlsx", "csv"):
        assert f"/api/v1/supervision/reports/monthly/{period}?format={fmt}" in page
    report = client.get(f"/api/v1/supervision/reports/monthly/{period}").json()
    # The figures are the whole platform's (other tests' usage too): amounts read as the page writes them.
    assert f"<dd>{report['queries']}</dd>" in page and cny(report["market_revenue"]["total"]) in page
    refused = report["security_events"]["refused"]
    assert refused >= 1 and f"被拒绝的调用 {refused}" in page
    csv = client.get(f"/api/v1/supervision/reports/monthly/{period}", params={"format": "csv"})
    assert csv.status_code == 200 and csv.text.startswith("月份,类别,指标,数值")
    pdf = client.get(f"/api/v1/supervision/reports/monthly/{period}", params={"format": "pdf"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    # Without a month the current one (in Beijing) is shown; a malformed one is said so, plainly.
    default = client.get("/web/regulator/report").text
    assert china_date(utcnow()).strftime("%Y-%m") in default.split('id="period-heading"')[1][:40]
    bad = client.get("/web/regulator/report", params={"period": "2026-13"})
    assert bad.status_code == 400 and "YYYY-MM" in bad.text
    assert "Monthly operations report" in client.get("/web/regulator/report", params={"lang": "en"}).text


def test_annual_evaluation_shows_the_years_figures(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    regulator = new_institution(services, "regulator")
    # A refused call this year is one of the year's security events.
    client.get("/api/v1/supervision/reports/monthly/2026-01", headers=auth(client, bank))
    _login(client, services, regulator)
    year = str(utcnow().year)
    page = client.get("/web/regulator/report/annual", params={"year": year})
    assert page.status_code == 200
    figures = client.get(f"/api/v1/supervision/reports/annual/{year}").json()
    assert figures["security_events"] >= 1
    rows = dict(re.findall(r'<th scope="row">([^<]+)</th><td>([^<]+)</td>', page.text))
    assert rows["安全事件"] == str(figures["security_events"])
    assert rows["信用信息查询"] == str(figures["queries"])
    assert rows["市场化服务收入（元）"] == figures["market_revenue_cny"]
    assert f"/api/v1/supervision/reports/annual/{year}" in page.text
    # Without a year the last complete one is shown; a malformed one is said so, plainly.
    assert str(utcnow().year - 1) in client.get("/web/regulator/report/annual").text
    bad = client.get("/web/regulator/report/annual", params={"year": "20x6"})
    assert bad.status_code == 400 and "2026" in bad.text
    assert "Annual evaluation" in client.get("/web/regulator/report/annual", params={"lang": "en"}).text


def test_supervision_records_filter_by_severity_open_findings_and_year(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    authority = new_institution(services, "credit_authority")
    principal = Principal(
        authority.account_id, "institution", authority.org_id, "credit_authority", authority.org_id
    )
    with services.tx() as session:
        done = record_inspection(
            session,
            principal,
            {
                "inspected_org_id": bank.org_id,
                "inspected_on": dt.date(2025, 6, 3),
                "inspector": "检查组甲",
                "findings": [{"severity": "low", "text": "日志保留期限不足"}],
            },
        )
        done.findings = [{**done.findings[0], "remediation": "已延长", "remediated_on": "2025-06-20"}]
        record_inspection(
            session,
            principal,
            {
                "inspected_org_id": bank.org_id,
                "inspected_on": dt.date(2026, 2, 9),
                "inspector": "检查组乙",
                "findings": [
                    {"severity": "critical", "text": "密钥明文存放", "remediation_due": "2026-03-01"},
                    {"severity": "medium", "text": "访问控制策略未复核"},
                ],
            },
        )
        file_plan(
            session,
            principal,
            {"year": 2026, "kind": "work_plan", "title": "2026 年度工作计划", "content": "全年目标"},
        )
        add_expert(session, {"name": "王专家", "field": "信息安全", "affiliation": "宁波大学"})
    _login(client, services, authority)
    page = client.get("/web/regulator/supervision", params={"org": bank.org_id}).text
    assert "密钥明文存放" in page and "日志保留期限不足" in page and "已延长" in page
    assert "2026 年度工作计划" not in page  # filed by the authority, not by the bank
    assert "王专家" in page
    critical = client.get(
        "/web/regulator/supervision", params={"org": bank.org_id, "severity": "critical"}
    ).text
    assert (
        "密钥明文存放" in critical
        and "访问控制策略未复核" not in critical
        and "日志保留期限不足" not in critical
    )
    still_open = client.get("/web/regulator/supervision", params={"org": bank.org_id, "open": "1"}).text
    assert "访问控制策略未复核" in still_open and "日志保留期限不足" not in still_open
    year = client.get("/web/regulator/supervision", params={"year": "2026", "kind": "work_plan"}).text
    assert "2026 年度工作计划" in year and "检查组甲" not in year
    experts = client.get("/web/regulator/supervision", params={"field": "数据治理"}).text
    assert "王专家" not in experts


def test_bank_pages_cover_quotas_statements_and_push_status(client, services) -> None:  # type: ignore[no-untyped-def]
    """The rest of the bank's list: consents with their expiry, usage and quota balances, statements
    that download from the page with the session cookie, subscriptions with their delivery status."""
    bank = new_institution(services, "bank")
    _login(client, services, bank)
    assert "到期" in client.get("/web/bank").text
    billing = client.get("/web/bank/billing").text
    assert "月配额" in billing and "剩余" in billing
    month = utcnow().strftime("%Y-%m")
    for fmt, head in (("csv", b""), ("pdf", b"%PDF")):
        link = f"/api/v1/billing/statements/{month}?format={fmt}"
        assert link in billing
        r = client.get(link)  # the page's cookie is enough: no separate API token
        assert r.status_code == 200 and r.content.startswith(head)
    subscriptions = client.get("/web/bank/subscriptions").text
    assert "已送达" in subscriptions and "待送达" in subscriptions


def test_bank_overview_summarises_filters_and_pages_many_consents(client, services) -> None:  # type: ignore[no-untyped-def]
    from fincredit.platform.testing.seed import grant_consent, new_enterprise

    bank = new_institution(services, "bank")
    other = new_institution(services, "bank")
    soon, later = utcnow() + dt.timedelta(days=5), utcnow() + dt.timedelta(days=90)
    for i in range(55):
        _, subject_id = new_enterprise(services)
        grant_consent(
            services,
            subject_id,
            bank.org_id,
            purpose="joint_modelling",
            modes=["model_training"],
            valid_until=soon if i < 3 else later,
        )
    _, subject_id = new_enterprise(services)
    grant_consent(
        services, subject_id, bank.org_id, purpose="post_loan_monitoring", modes=["query"], granted=False
    )
    grant_consent(services, subject_id, other.org_id)  # another bank's: never counted here
    _login(client, services, bank)
    page = client.get("/web/bank").text
    summary = page[
        page.index('id="consent-summary"') : page.index("</table>", page.index('id="consent-summary"'))
    ]
    assert ">55</a>" in summary and "联合建模" in summary and "贷后监测" in summary
    assert "共 56 项，第 1 / 2 页" in page and 'rel="next"' in page
    assert page.count('<tr><td><small title="cns_') == 50
    second = client.get("/web/bank", params={"page": 2}).text
    assert second.count('<tr><td><small title="cns_') == 6 and 'rel="prev"' in second
    expiring = client.get("/web/bank", params={"expiring": "1"}).text
    assert "共 3 项" in expiring and expiring.count('<strong class="alert">') == 3
    pending = client.get("/web/bank", params={"state": "PENDING", "purpose": "post_loan_monitoring"}).text
    assert "共 1 项" in pending and "待处理" in pending
    # An unknown filter value is ignored rather than refused.
    assert "共 56 项" in client.get("/web/bank", params={"state": "BOGUS"}).text
