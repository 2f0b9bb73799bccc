"""The credit report (R§9): versioned JSON, a Chinese HTML page (Jinja2) and a printable PDF.

Generating a report is an access in mode ``report`` through the one gate; the disclosure entry
carries the SHA-256 of the report's canonical JSON. The platform keeps, per report id, that digest and
the SHA-256 of the PDF bytes (never the report itself), so anyone holding the PDF — or just the hash
printed on it — can ask the platform whether it is genuine.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fpdf import FPDF
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from fincredit.consent import ConsentStatus
from fincredit.platform.consents import Allowed, authorize_access, record_disclosure
from fincredit.platform.consents.tables import Consent
from fincredit.platform.core.db import Subject, utcnow
from fincredit.platform.core.errors import Forbidden
from fincredit.platform.core.pdf import table
from fincredit.platform.core.services import Services
from fincredit.platform.free._pdf import fast_document
from fincredit.platform.free._query import ItemRequest, collect, digest, resolve_items, scopes_for
from fincredit.platform.free.errors import ReportNotFound
from fincredit.platform.free.tables import CreditReport
from fincredit.platform.identity.principal import Principal
from fincredit.platform.subjects import find_subject, view_subject

SCHEMA_VERSION = "1.0"
ISSUER = "宁波市融资信用服务平台"
REGISTRATION_ITEMS = ("market_registration",)
# The fixed text of the PDF (headings, labels), checked against the lean fonts' character set too.
_PDF_TEXT = (
    "公共信用信息报告 报告编号 版本 出具机构 出具时间 数据截至 查询机构 校验值 一、主体身份信息 "
    "名称 代码 类型 区划 二、登记信息 日期 内容 无登记信息 三、公共信用记录(按类别) 公开 授权查询 "
    "来源: 无记录 记录编号 状态 异议处理中 四、异议处理中的记录 信息项 期限 无 五、概要 记录总数 "
    "条,其中负面记录 条。 真伪核验:持本报告者可凭报告编号与校验值,或上传本PDF文件,"
    "在平台核验本报告是否由平台出具。"
)
_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


@dataclass(frozen=True, slots=True)
class IssuedReport:
    report: dict[str, Any]
    content_sha256: str


def _summary(items: list[dict[str, Any]]) -> dict[str, Any]:
    records = [r for i in items for r in i["records"]]
    return {
        "items": len(items),
        "records": len(records),
        "negative_records": sum(1 for i in items for r in i["records"] if r["negative"]),
        "records_under_objection": sum(1 for r in records if r["under_objection"]),
        "items_with_records": sum(1 for i in items if i["records"]),
    }


def default_purpose(session: Session, principal: Principal, subject_id: int) -> str:
    """The purpose of a report asked for without one: that of the caller's live consents from the subject
    that allow reports, when they all share one; otherwise ``credit_report`` (and the gate says why)."""
    if principal.org_id is None:
        return "credit_report"
    rows = session.execute(
        select(Consent.purpose, Consent.modes).where(
            Consent.subject_id == subject_id,
            Consent.grantee_org_id == principal.org_id,
            Consent.state == ConsentStatus.ACTIVE.value,
        )
    )
    purposes = {purpose for purpose, modes in rows if "report" in modes}
    return purposes.pop() if len(purposes) == 1 else "credit_report"


def issue_report(
    session: Session,
    services: Services,
    *,
    principal: Principal,
    identifier: str,
    purpose: str | None = None,
    items: Sequence[ItemRequest] | None = None,
    route: str = "/api/v1/free/reports",
    at: dt.date | None = None,
    own: bool = False,
) -> IssuedReport:
    """Gate, build, ledger and register one report in ``session``'s transaction. With ``own`` the caller
    is the borrower account of the subject itself (R§9: free access to one's own information): no consent
    is needed and nothing is disclosed to anyone else, so there is no gate and no ledger entry."""
    subject = find_subject(session, services.keyring, identifier)
    if own and principal.subject_id != subject.id:
        raise Forbidden("a borrower account reads the report of its own subject only")
    if purpose is None:
        purpose = "own_information" if own else default_purpose(session, principal, subject.id)
    wanted = resolve_items(session, subject, items)
    if own:
        body, _ = collect(session, services, subject, wanted, at or dt.date.today())
        return _register(session, services, principal, subject, body, purpose, "own_information", None, None)
    allowed = authorize_access(
        session,
        services,
        principal=principal,
        subject=subject,
        scopes=scopes_for(wanted),
        purpose=purpose,
        mode="report",
        route=route,
        defer_disclosure=True,
    )
    body, _ = collect(session, services, subject, wanted, at or dt.date.today())
    return _register(
        session, services, principal, subject, body, purpose, allowed.basis.value, allowed.consent_id, allowed
    )


def own_report(session: Session, services: Services, principal: Principal) -> IssuedReport:
    """The credit report of the borrower account's own subject (R§9), every item of its kind."""
    subject = session.get(Subject, principal.subject_id) if principal.subject_id is not None else None
    if subject is None:
        raise Forbidden("this account is not linked to a credit subject")
    identifier = view_subject(session, services.keyring, subject, reveal=True).code
    return issue_report(
        session,
        services,
        principal=principal,
        identifier=identifier,
        route="/api/v1/me/credit-report",
        own=True,
    )


def _register(
    session: Session,
    services: Services,
    principal: Principal,
    subject: Subject,
    body: dict[str, Any],
    purpose: str,
    basis: str,
    consent_id: str | None,
    allowed: Allowed | None,
) -> IssuedReport:
    """Write the report, register it for verification and, for an access under consent, ledger it."""
    report_id = f"CR{utcnow():%Y%m%d}{uuid.uuid4().hex[:12].upper()}"
    registrations = [r for i in body["items"] if i["code"] in REGISTRATION_ITEMS for r in i["records"]]
    categories = [i for i in body["items"] if i["code"] not in REGISTRATION_ITEMS]
    report = {
        "report_id": report_id,
        "schema_version": SCHEMA_VERSION,
        "issuer": ISSUER,
        "issued_at": utcnow().replace(microsecond=0).isoformat(),
        "issued_to": principal.org_id or principal.account_id,
        "purpose": purpose,
        "basis": basis,
        "consent_id": consent_id,
        "as_of": body["as_of"],
        "subject": body["subject"],
        "registrations": registrations,
        "categories": categories,
        "objections_in_progress": [
            {"item": i["code"], "provider_record_id": r["provider_record_id"], **r["objection"]}
            for i in body["items"]
            for r in i["records"]
            if r["objection"] is not None
        ],
        "summary": _summary(body["items"]),
    }
    content_sha256 = digest(report)
    seq = (
        None
        if allowed is None
        else record_disclosure(session, services, allowed, payload_digest=content_sha256)
    )
    session.add(
        CreditReport(
            id=report_id,
            subject_id=subject.id,
            org_id=principal.org_id or "",
            account_id=principal.account_id,
            schema_version=SCHEMA_VERSION,
            content_sha256=content_sha256,
            record_count=report["summary"]["records"],
            ledger_seq=seq,
        )
    )
    session.flush()
    return IssuedReport(report, content_sha256)


def render_html(issued: IssuedReport) -> str:
    return _env.get_template("report.html").render(r=issued.report, content_sha256=issued.content_sha256)


def _fields_text(fields: dict[str, Any]) -> str:
    return "; ".join(f"{k}={'' if v is None else v}" for k, v in fields.items())


def render_pdf(issued: IssuedReport, make_document: Callable[[str], FPDF] | None = None) -> bytes:
    """The printable report; ``make_document`` is ``pdf.new_document`` in the benchmark's baseline."""
    r = issued.report
    title = f"信用报告 {r['report_id']}"
    if make_document is None:
        text = json.dumps(r, ensure_ascii=False) + _PDF_TEXT
        pdf = fast_document(title, text)
    else:
        pdf = make_document(title)
    pdf.set_font("body", "B", size=16)
    pdf.cell(0, 10, "公共信用信息报告", new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.set_font("body", size=9)
    lines = [
        f"报告编号 Report ID: {r['report_id']}",
        f"报告版本 Schema: {r['schema_version']}    出具机构: {r['issuer']}",
        f"出具时间 Issued: {r['issued_at']}    数据截至: {r['as_of']}    查询机构: {r['issued_to']}",
        f"校验值 SHA-256: {issued.content_sha256}",
    ]
    for line in lines:
        pdf.multi_cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    s = r["subject"]
    pdf.ln(2)
    pdf.set_font("body", "B", size=12)
    pdf.cell(0, 8, "一、主体身份信息", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("body", size=9)
    table(pdf, ["名称", "代码", "类型", "区划"], [[s["name"], s["identifier"], s["kind"], s["region"]]])
    pdf.set_font("body", "B", size=12)
    pdf.cell(0, 8, "二、登记信息", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("body", size=8)
    if r["registrations"]:
        table(
            pdf,
            ["日期", "内容"],
            [[x["event_date"] or "", _fields_text(x["fields"])] for x in r["registrations"]],
            widths=[25, 165],
        )
    else:
        pdf.cell(0, 6, "无登记信息", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("body", "B", size=12)
    pdf.cell(0, 8, "三、公共信用记录(按类别)", new_x="LMARGIN", new_y="NEXT")
    for cat in r["categories"]:
        pdf.set_font("body", "B", size=10)
        mark = "(公开)" if cat["public"] else "(授权查询)"
        pdf.cell(0, 7, f"{cat['name']} {mark} 来源: {cat['provider']}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("body", size=8)
        if not cat["records"]:
            pdf.cell(0, 5, "无记录", new_x="LMARGIN", new_y="NEXT")
            continue
        rows = [
            [
                x["event_date"] or "",
                x["provider_record_id"],
                _fields_text(x["fields"]),
                "异议处理中" if x["under_objection"] else "",
            ]
            for x in cat["records"]
        ]
        table(pdf, ["日期", "记录编号", "内容", "状态"], rows, widths=[22, 35, 108, 25])
    pdf.set_font("body", "B", size=12)
    pdf.cell(0, 8, "四、异议处理中的记录", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("body", size=8)
    if r["objections_in_progress"]:
        table(
            pdf,
            ["信息项", "记录编号", "状态", "期限"],
            [
                [o["item"], o["provider_record_id"], o["status"], o["deadline"] or ""]
                for o in r["objections_in_progress"]
            ],
        )
    else:
        pdf.cell(0, 5, "无", new_x="LMARGIN", new_y="NEXT")
    sm = r["summary"]
    pdf.set_font("body", "B", size=12)
    pdf.cell(0, 8, "五、概要", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("body", size=9)
    pdf.multi_cell(
        0,
        5,
        f"记录总数 {sm['records']} 条,其中负面记录 {sm['negative_records']} 条,"
        f"异议处理中 {sm['records_under_objection']} 条。",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(3)
    pdf.multi_cell(
        0,
        5,
        "真伪核验:持本报告者可凭报告编号与校验值,或上传本PDF文件,"
        "在平台 /api/v1/free/reports/verify 核验本报告是否由平台出具。",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(pdf.output())


def register_pdf(session: Session, report_id: str, pdf_bytes: bytes) -> str:
    sha = hashlib.sha256(pdf_bytes).hexdigest()
    row = session.get(CreditReport, report_id)
    if row is None:
        raise ReportNotFound(f"no report {report_id}")
    row.pdf_sha256 = sha
    session.flush()
    return sha


def verify_report(session: Session, *, sha256: str, report_id: str | None = None) -> dict[str, Any]:
    """Is there a report with this content or PDF digest (and id, when given)? Answers only what the
    holder of the document already sees: id, version, issue time, the masked subject is not needed."""
    sha = sha256.strip().lower()
    q = select(CreditReport).where(or_(CreditReport.content_sha256 == sha, CreditReport.pdf_sha256 == sha))
    if report_id is not None:
        q = q.where(CreditReport.id == report_id)
    row = session.scalar(q.limit(1))
    if row is None:
        raise ReportNotFound("no report issued by the platform has that digest")
    return {
        "genuine": True,
        "report_id": row.id,
        "schema_version": row.schema_version,
        "issued_at": row.issued_at,
        "matched": "pdf" if row.pdf_sha256 == sha else "content",
        "record_count": row.record_count,
    }
