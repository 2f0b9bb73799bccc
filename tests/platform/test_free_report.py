"""The credit report (R§9): versioned JSON, a Chinese HTML page and a PDF whose text (read back with
pypdf) carries the Chinese headings, the subject, the records, the report id and the verification
hash; anyone holding the PDF, or the hash printed on it, can confirm with the platform that it is
genuine, and a forged or altered document is not confirmed."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import pytest
from pypdf import PdfReader

from fincredit.platform.free import SCHEMA_VERSION
from fincredit.platform.testing.plugin import auth, new_institution
from fincredit.platform.testing.seed import grant_consent, load_records, new_enterprise

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SCOPES = ["tax_rating", "admin_penalty", "market_registration"]


@pytest.fixture(autouse=True)
def _no_push_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINCREDIT_PUSH_WORKER", "0")


@pytest.fixture
def reported(client, services):  # type: ignore[no-untyped-def]
    ident, sid = new_enterprise(services, name="宁波海曙示例贸易有限公司")
    load_records(
        services,
        "tax_rating",
        ident,
        [{"provider_record_id": f"T-{sid}", "rating_year": 2025, "rating": "A", "rated_date": "2025-04-01"}],
    )
    load_records(
        services,
        "admin_penalty",
        ident,
        [
            {
                "provider_record_id": f"P-{sid}",
                "decision_no": "甬市监罚〔2025〕12号",
                "penalty_date": "2025-03-01",
                "penalty_type": "罚款",
                "fine_amount": 5000,
                "violation": "虚假宣传",
                "authority": "宁波市市场监督管理局",
            }
        ],
    )
    bank = new_institution(services, "bank")
    grant_consent(services, sid, bank.org_id, purpose="credit_report", scopes=SCOPES, modes=["report"])
    items = [{"code": c} for c in SCOPES]
    return ident, auth(client, bank), items


def test_json_report_is_versioned_and_complete(client, reported) -> None:  # type: ignore[no-untyped-def]
    ident, h, items = reported
    r = client.post("/api/v1/free/reports", headers=h, json={"identifier": ident, "items": items})
    report = r.json()
    assert r.status_code == 200, report
    assert report["schema_version"] == SCHEMA_VERSION and report["report_id"].startswith("CR")
    assert report["subject"]["name"] == "宁波海曙示例贸易有限公司"
    categories = {c["code"]: c for c in report["categories"]}
    assert categories["tax_rating"]["records"][0]["fields"]["rating"] == "A"
    assert categories["admin_penalty"]["public"] is True
    assert report["summary"]["records"] == 2 and report["summary"]["negative_records"] == 1
    assert r.headers["X-Report-Sha256"] == report["content_sha256"]
    check = client.get("/api/v1/free/reports/verify", params={"sha256": report["content_sha256"]})
    assert check.status_code == 200 and check.json()["report_id"] == report["report_id"]


def test_pdf_text_is_chinese_and_carries_id_and_hash_and_verifies(client, reported) -> None:  # type: ignore[no-untyped-def]
    ident, h, items = reported
    r = client.post(
        "/api/v1/free/reports", headers=h, json={"identifier": ident, "items": items, "format": "pdf"}
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    pdf = r.content
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    report_id, content_sha = r.headers["X-Report-Id"], r.headers["X-Report-Sha256"]
    for expected in (
        "公共信用信息报告",
        "主体身份信息",
        "宁波海曙示例贸易有限公司",
        "纳税信用等级",
        "行政处罚信息",
        "虚假宣传",
        report_id,
        content_sha,
    ):
        assert expected in text, expected
    assert r.headers["X-Pdf-Sha256"] == hashlib.sha256(pdf).hexdigest()
    # Anyone holding the file (no login) confirms it; one changed byte is not confirmed.
    genuine = client.post(
        "/api/v1/free/reports/verify", content=pdf, headers={"Content-Type": "application/pdf"}
    )
    assert genuine.status_code == 200 and genuine.json()["report_id"] == report_id
    assert genuine.json()["matched"] == "pdf"
    forged = pdf[:-20] + b"%% altered  %%\n%%EOF\n"
    bad = client.post(
        "/api/v1/free/reports/verify", content=forged, headers={"Content-Type": "application/pdf"}
    )
    assert bad.status_code == 404 and bad.json()["type"].endswith("report-not-found")
    wrong_id = client.get("/api/v1/free/reports/verify", params={"sha256": content_sha, "report_id": "CRX"})
    assert wrong_id.status_code == 404


def test_html_report_is_chinese_and_escaped(client, reported) -> None:  # type: ignore[no-untyped-def]
    ident, h, items = reported
    r = client.post(
        "/api/v1/free/reports", headers=h, json={"identifier": ident, "items": items, "format": "html"}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert (
        "公共信用信息报告" in r.text
        and "宁波海曙示例贸易有限公司" in r.text
        and r.headers["X-Report-Id"] in r.text
    )
    assert "<script" not in r.text


def test_a_character_outside_the_lean_fonts_still_prints() -> None:
    from fincredit.platform.free import IssuedReport, render_pdf

    subject = {
        "name": "宁波市堃垚科技有限公司",
        "identifier": "9133********",
        "kind": "legal",
        "region": "330203",
    }
    report = {
        "report_id": "CRTEST",
        "schema_version": SCHEMA_VERSION,
        "issuer": "宁波市融资信用服务平台",
        "issued_at": "2026-01-01T00:00:00+00:00",
        "as_of": "2026-01-01",
        "issued_to": "bank",
        "subject": subject,
        "registrations": [],
        "categories": [],
        "objections_in_progress": [],
        "summary": {"records": 0, "negative_records": 0, "records_under_objection": 0},
    }
    text = PdfReader(io.BytesIO(render_pdf(IssuedReport(report, "0" * 64)))).pages[0].extract_text()
    assert "宁波市堃垚科技有限公司" in text  # 堃 and 垚 are GBK, not GB 2312: the full fonts are used


def test_report_reads_as_a_bank_officer_expects(client, services, reported) -> None:  # type: ignore[no-untyped-def]
    """Headed by the platform's name, items under their catalog titles with their providers' names and
    field titles (no codes), validity and objection marks, and every page footed with its number, the
    report number and the issue time in Beijing time."""
    from sqlalchemy import select

    from fincredit.platform.core.db import Organisation
    from fincredit.platform.ingestion.tables import CreditRecord

    ident, h, items = reported
    with services.read() as session:  # the tax rating's provider (other tests may have named another)
        provider = session.execute(
            select(Organisation.id, Organisation.name)
            .join(CreditRecord, CreditRecord.provider_org_id == Organisation.id)
            .where(CreditRecord.item_code == "tax_rating")
            .order_by(CreditRecord.id.desc())
            .limit(1)
        ).one()
    r = client.post(
        "/api/v1/free/reports", headers=h, json={"identifier": ident, "items": items, "format": "pdf"}
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "credit-report.pdf").write_bytes(r.content)  # for a person to look at
    pages = PdfReader(io.BytesIO(r.content)).pages
    text = "".join(page.extract_text() for page in pages)
    report_id = r.headers["X-Report-Id"]
    for expected in (
        "宁波市融资信用服务平台",
        "纳税信用等级",
        provider.name,  # the provider's name, not its id
        "评价年度",  # the catalog's field title, not rating_year
        "有效期至",
        "北京时间",
        f"第 1 页 / 共 {len(pages)} 页",
        "扫码核验真伪",
    ):
        assert expected in text, expected
    for code in ("rating_year", "tax_rating", "legal", "credit_report"):
        assert code not in text, code
    assert provider.id not in text.replace(provider.name, "")  # a test's provider has its id in its name
    assert text.count(report_id) >= len(pages) + 1  # the header, then every page's footer


def test_verification_page_checks_the_qr_link_and_an_uploaded_pdf(client, reported) -> None:  # type: ignore[no-untyped-def]
    ident, h, items = reported
    r = client.post(
        "/api/v1/free/reports", headers=h, json={"identifier": ident, "items": items, "format": "pdf"}
    )
    report_id, content_sha = r.headers["X-Report-Id"], r.headers["X-Report-Sha256"]
    client.cookies.clear()
    by_link = client.get("/web/verify", params={"report": report_id, "sha256": content_sha})
    assert by_link.status_code == 200 and "该报告由平台出具" in by_link.text
    unknown = client.get("/web/verify", params={"report": report_id, "sha256": "0" * 64})
    assert "平台未出具过与之相符的报告" in unknown.text
    token = {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', by_link.text).group(1)}  # type: ignore[union-attr]
    upload = client.post(
        "/web/verify", data=token, files={"file": ("report.pdf", r.content, "application/pdf")}
    )
    assert upload.status_code == 200 and "该报告由平台出具" in upload.text and report_id in upload.text
    # A changed file that still names its report: the report exists, but this is not the file issued.
    changed = r.content.replace(b"%%EOF", b"%%EOF\n% edited")
    altered = client.post(
        "/web/verify", data=token, files={"file": ("report.pdf", changed, "application/pdf")}
    )
    assert f"报告 {report_id} 确由平台出具" in altered.text and "可能已被修改" in altered.text
    junk = client.post(
        "/web/verify", data=token, files={"file": ("x.pdf", b"%PDF-1.4 nothing", "application/pdf")}
    )
    assert "平台未出具过与之相符的报告" in junk.text
