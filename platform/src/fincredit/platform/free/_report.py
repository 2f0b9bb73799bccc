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
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import qrcode
import qrcode.constants
from fpdf import FPDF
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from fincredit.consent import ConsentStatus
from fincredit.platform.consents import Allowed, authorize_access, record_disclosure
from fincredit.platform.consents.tables import Consent
from fincredit.platform.core.db import Subject, utcnow
from fincredit.platform.core.errors import Forbidden
from fincredit.platform.core.pdf import table
from fincredit.platform.core.services import Services
from fincredit.platform.core.web.formats import NameBook, install_filters, when
from fincredit.platform.core.web.i18n import label
from fincredit.platform.free._pdf import fast_document
from fincredit.platform.free._query import ItemRequest, collect, digest, resolve_items, scopes_for
from fincredit.platform.free.errors import ReportNotFound
from fincredit.platform.free.tables import CreditReport
from fincredit.platform.identity.principal import Principal
from fincredit.platform.subjects import find_subject, view_subject

# 1.1: the report carries the titles of its items, fields and organisations ("titles").
SCHEMA_VERSION = "1.1"
ISSUER = "宁波市融资信用服务平台"
REGISTRATION_ITEMS = ("market_registration",)
# The fixed text of the PDF (headings, labels), checked against the lean fonts' character set too.
_PDF_TEXT = (
    "公共信用信息报告 报告编号 报告版本 出具时间 数据截至 查询机构 本人查询 查询用途 "
    "校验值(SHA-256): 扫码核验真伪 "
    "一、主体身份信息 名称 统一社会信用代码(部分隐藏) 主体类型 所在区划 二、登记信息 登记日期 登记内容 "
    "无登记信息 三、公共信用记录(按类别) 公开 授权查询 · 负面信息 信息提供单位: 无记录 日期 记录编号 "
    "内容 有效期至 长期 状态 【异议处理中】 正常 四、异议处理中的记录 信息项 处理状态 办理期限 无 五、概要 "
    "记录总数 条,其中负面记录 条。 真伪核验:扫描右上角二维码,或在平台核验页面输入报告编号与校验值,"
    "或上传本PDF文件,即可核验本报告是否由平台出具。核验页面 标注【异议处理中】的记录正在异议处理中,"
    "其内容可能更正;有效期届满的信息不再展示。 第 页 / 共 北京时间 —;:"
)
_env = install_filters(
    Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html"]),
    )
)


@dataclass(frozen=True, slots=True)
class IssuedReport:
    report: dict[str, Any]
    content_sha256: str
    # The platform's public address, for the verification link and QR code printed on the report.
    base_url: str = ""


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
        "titles": _titles(session, body["items"], principal.org_id),
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
    return IssuedReport(report, content_sha256, services.settings.base_url)


def _titles(session: Session, items: list[dict[str, Any]], issued_to: str | None) -> dict[str, Any]:
    """The words for the report's codes, as the catalog and the organisation register write them today:
    item titles, field titles per item and the names of the providers and the asking institution."""
    names = NameBook(session)
    orgs = {i["provider"] for i in items} | ({issued_to} if issued_to else set())
    return {
        "items": {i["code"]: names.item(i["code"]) for i in items},
        "fields": {
            i["code"]: {f: names.field(i["code"], f) for r in i["records"][:1] for f in r["fields"]}
            for i in items
        },
        "orgs": {o: names.org(o) for o in sorted(orgs)},
    }


def render_html(issued: IssuedReport) -> str:
    r = issued.report
    return _env.get_template("report.html").render(
        r=r,
        content_sha256=issued.content_sha256,
        v=_ReportWords(r),
        verify_url=verify_url(issued),
        qr_svg=qr_svg(verify_url(issued)),
    )


def verify_url(issued: IssuedReport) -> str:
    """The public verification page for this report, with its number and digest filled in (the QR code)."""
    query = urlencode({"report": issued.report["report_id"], "sha256": issued.content_sha256})
    return f"{issued.base_url}/web/verify?{query}"


def _qr_modules(text: str) -> list[list[bool]]:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(text)
    code.make(fit=True)
    return [[bool(cell) for cell in row] for row in code.get_matrix()]


def qr_svg(text: str) -> Markup:
    """The QR code of ``text`` as an inline SVG (one path; no image file, no script)."""
    modules = _qr_modules(text)
    n = len(modules)
    path = "".join(f"M{x} {y}h1v1h-1z" for y, row in enumerate(modules) for x, dark in enumerate(row) if dark)
    return Markup(
        f'<svg class="qr" viewBox="-2 -2 {n + 4} {n + 4}" width="132" height="132" role="img" '
        f'aria-label="核验二维码"><rect x="-2" y="-2" width="{n + 4}" height="{n + 4}" fill="#fff"/>'
        f'<path d="{path}" fill="#000"/></svg>'
    )


def _qr_pdf(pdf: FPDF, text: str, x: float, y: float, size: float) -> None:
    modules = _qr_modules(text)
    cell = size / len(modules)
    pdf.set_fill_color(0, 0, 0)
    for j, row in enumerate(modules):
        i = 0
        while i < len(row):
            if not row[i]:
                i += 1
                continue
            start = i
            while i < len(row) and row[i]:
                i += 1
            # One rectangle per run of dark modules: a tenth of the drawing operators of one per module.
            pdf.rect(x + start * cell, y + j * cell, (i - start) * cell, cell, style="F")


class _ReportWords:
    """The words a report shows for its codes: catalog titles, organisation names, kinds and statuses,
    taken from the titles the report carries (so a stored report renders the same later)."""

    def __init__(self, report: dict[str, Any]) -> None:
        self.titles = report.get("titles") or {}

    def org(self, org_id: str | None) -> str:
        if not org_id:
            return "—"
        return str(self.titles.get("orgs", {}).get(org_id, org_id))

    def asker(self, report: dict[str, Any]) -> str:
        """Who asked: the institution's name, or the subject itself for its own report (R§9)."""
        return "本人查询" if report.get("basis") == "own_information" else self.org(report.get("issued_to"))

    def item(self, code: str) -> str:
        return str(self.titles.get("items", {}).get(code, code))

    def field(self, item_code: str, name: str) -> str:
        return str(self.titles.get("fields", {}).get(item_code, {}).get(name, name))

    def fields_text(self, item_code: str, fields: dict[str, Any]) -> str:
        return ";".join(
            f"{self.field(item_code, k)}:{'—' if v is None or v == '' else v}" for k, v in fields.items()
        )

    @staticmethod
    def code(kind: str, code: str | None) -> str:
        return "—" if not code else label(kind, code)

    @staticmethod
    def time(value: str | None) -> str:
        return when(value)


def _footer(pdf: FPDF, report_id: str, issued: str) -> Callable[[], None]:
    def footer() -> None:
        pdf.set_y(-12)
        pdf.set_font("body", size=7)
        pdf.set_text_color(90, 90, 90)
        pdf.cell(
            0,
            5,
            f"{ISSUER} · 报告编号 {report_id} · 出具时间 {issued} · 第 {pdf.page_no()} 页 / 共 {{nb}} 页",
            align="C",
        )
        pdf.set_text_color(0, 0, 0)

    return footer


def _heading(pdf: FPDF, text: str) -> None:
    pdf.ln(1)
    pdf.set_font("body", "B", size=11)
    pdf.set_fill_color(232, 238, 246)
    pdf.cell(0, 7, text, new_x="LMARGIN", new_y="NEXT", fill=True)
    pdf.set_font("body", size=8)


def render_pdf(issued: IssuedReport, make_document: Callable[[str], FPDF] | None = None) -> bytes:
    """The printable report as a bank officer reads one: the platform's name, the subject's name and
    masked code, each item under its catalog title with its provider, validity and objection marks; every
    page footed with the report number, issue time and page count; a QR code to the verification page.
    ``make_document`` is ``pdf.new_document`` in the benchmark's baseline."""
    r = issued.report
    v = _ReportWords(r)
    title = f"信用报告 {r['report_id']}"
    issued_at = v.time(r["issued_at"])
    s = r["subject"]
    if make_document is None:
        text = json.dumps(r, ensure_ascii=False) + _PDF_TEXT + issued_at + label("kind", s["kind"])
        pdf = fast_document(title, text)
    else:
        pdf = make_document(title)
    # The report number and digest ride in the file's metadata too, so an uploaded copy names its report.
    pdf.set_subject(f"{r['report_id']} {issued.content_sha256}")
    pdf.set_keywords(f"fincredit-report:{r['report_id']} sha256:{issued.content_sha256}")
    setattr(pdf, "footer", _footer(pdf, r["report_id"], issued_at))  # noqa: B010 - an instance's own footer
    url = verify_url(issued)
    top = pdf.get_y()
    _qr_pdf(pdf, url, 172, top, 28)
    pdf.set_font("body", size=9)
    pdf.cell(155, 5, r["issuer"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("body", "B", size=17)
    pdf.cell(155, 10, "公共信用信息报告", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("body", size=9)
    for line in (
        f"报告编号:{r['report_id']}    报告版本:{r['schema_version']}",
        f"出具时间:{issued_at}    数据截至:{r['as_of']}",
        f"查询机构:{v.asker(r)}    查询用途:{v.code('purpose', r.get('purpose'))}",
    ):
        pdf.multi_cell(155, 5, line, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("body", size=7)
    pdf.multi_cell(155, 4, f"校验值(SHA-256):{issued.content_sha256}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_xy(168, top + 29)
    pdf.cell(36, 4, "扫码核验真伪", align="C")
    pdf.set_xy(pdf.l_margin, max(pdf.get_y() + 6, top + 36))

    _heading(pdf, "一、主体身份信息")
    table(
        pdf,
        ["名称", "统一社会信用代码(部分隐藏)", "主体类型", "所在区划"],
        [[s["name"], s["identifier"], v.code("kind", s["kind"]), s["region"] or "—"]],
    )
    _heading(pdf, "二、登记信息")
    if r["registrations"]:
        reg_item = REGISTRATION_ITEMS[0]
        table(
            pdf,
            ["登记日期", "登记内容"],
            [[x["event_date"] or "—", v.fields_text(reg_item, x["fields"])] for x in r["registrations"]],
            widths=[25, 165],
        )
    else:
        pdf.cell(0, 6, "无登记信息", new_x="LMARGIN", new_y="NEXT")
    _heading(pdf, "三、公共信用记录(按类别)")
    for cat in r["categories"]:
        pdf.set_font("body", "B", size=9.5)
        mark = "公开" if cat["public"] else "授权查询"
        negative = " · 负面信息" if cat.get("negative") else ""
        pdf.multi_cell(
            0,
            6,
            f"{v.item(cat['code'])}({mark}{negative})  信息提供单位:{v.org(cat['provider'])}",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.set_font("body", size=8)
        if not cat["records"]:
            pdf.cell(0, 5, "无记录", new_x="LMARGIN", new_y="NEXT")
            continue
        rows = [
            [
                x["event_date"] or "—",
                x["provider_record_id"],
                v.fields_text(cat["code"], x["fields"]),
                x.get("valid_until") or "长期",
                "【异议处理中】" if x["under_objection"] else "正常",
            ]
            for x in cat["records"]
        ]
        table(pdf, ["日期", "记录编号", "内容", "有效期至", "状态"], rows, widths=[20, 30, 98, 20, 22])
    _heading(pdf, "四、异议处理中的记录")
    if r["objections_in_progress"]:
        table(
            pdf,
            ["信息项", "记录编号", "处理状态", "办理期限"],
            [
                [
                    v.item(o["item"]),
                    o["provider_record_id"],
                    v.code("objection", o["status"]),
                    o["deadline"] or "—",
                ]
                for o in r["objections_in_progress"]
            ],
        )
    else:
        pdf.cell(0, 5, "无", new_x="LMARGIN", new_y="NEXT")
    sm = r["summary"]
    _heading(pdf, "五、概要")
    pdf.set_font("body", size=9)
    pdf.multi_cell(
        0,
        5,
        f"记录总数 {sm['records']} 条,其中负面记录 {sm['negative_records']} 条,"
        f"异议处理中 {sm['records_under_objection']} 条。",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(2)
    pdf.set_font("body", size=8)
    pdf.multi_cell(
        0,
        4.5,
        "真伪核验:扫描右上角二维码,或在平台核验页面输入报告编号与校验值,或上传本PDF文件,"
        f"即可核验本报告是否由平台出具。核验页面:{issued.base_url}/web/verify",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.multi_cell(
        0,
        4.5,
        "标注【异议处理中】的记录正在异议处理中,其内容可能更正;有效期届满的信息不再展示。",
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


_EMBEDDED = re.compile(rb"fincredit-report:(CR[0-9A-Z]{8,40}) sha256:([0-9a-f]{64})")


def verify_upload(session: Session, data: bytes) -> dict[str, Any]:
    """An uploaded file checked the two ways a report can be: its bytes are those of a PDF the platform
    issued (genuine), or — failing that — it names a report (the number and content digest the platform
    writes into every PDF's metadata) that exists, but this file is not the one issued: changed since."""
    sha = hashlib.sha256(data).hexdigest()
    try:
        return {**verify_report(session, sha256=sha), "sha256": sha, "altered": False}
    except ReportNotFound:
        found = _EMBEDDED.search(data)
        if found is None:
            raise
    report_id, content_sha = found.group(1).decode(), found.group(2).decode()
    answer = verify_report(session, sha256=content_sha, report_id=report_id)
    return {**answer, "genuine": False, "altered": True, "matched": "report_id", "sha256": sha}
