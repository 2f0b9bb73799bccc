"""The monthly operations report (G§18-22, R§22) for the credit authority and regulators, generated
from the platform's own tables for one calendar month (UTC bounds, as the billing statements):

- submissions: provider files reporting on the month — total, late, nil returns;
- objections: filed in the month, resolved in the month, open past their platform deadline at its end;
- consent ledger: entries of the month by type (disclosures are the queries; consent events, refusals);
- pushes: push events created in the month by delivery status;
- matchmaking: leads created in the month by outcome;
- market revenue: ``metering.regulator_totals`` (per institution, reconciling with the statements);
- security events: audited API calls of the month refused (4xx) or failed (5xx), by route.

Every figure is a plain count or sum, so it can be checked by hand (the tests do)."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from fincredit.platform.consents.tables import LedgerEntryRow
from fincredit.platform.core.db import AuditEvent, utcnow
from fincredit.platform.core.spreadsheet import SafeCsvWriter, spreadsheet_cell
from fincredit.platform.core.web.formats import cny, when
from fincredit.platform.core.web.i18n import label
from fincredit.platform.free.tables import MatchLead, PushEvent
from fincredit.platform.ingestion.tables import Submission
from fincredit.platform.market import china_date
from fincredit.platform.metered.billing import period_bounds, regulator_totals
from fincredit.platform.objections import Status, list_objections
from fincredit.platform.objections.tables import Objection


def _by(session: Session, column: Any, count_of: Any, *where: Any) -> dict[str, int]:
    rows = session.execute(select(column, func.count(count_of)).where(*where).group_by(column)).all()
    return {str(k if k is not None else "none"): int(v) for k, v in rows}


def _overdue_open(session: Session, start: dt.datetime, end: dt.datetime) -> int:
    """Objections open past their deadline at the month's end — or now, while the month runs, when the
    count is exactly the supervision page's overdue list (the same stage deadlines, the same China day).
    For a past month the stage an objection was in at the end is not kept; one resolved after the month
    is counted against its platform deadline, one still open against its current stage's deadline."""
    now = utcnow()
    at = min(now, end)
    if at == now:
        return len(list_objections(session, overdue_only=True, at=now, limit=1_000_000))
    today = china_date(at)
    still_open = Objection.resolved_at.is_(None) & or_(
        (Objection.status == Status.PLATFORM_REVIEW.value) & (Objection.platform_due < today),
        (Objection.status == Status.PROVIDER_REVIEW.value) & (Objection.provider_due < today),
    )
    resolved_later = (Objection.resolved_at >= end) & (Objection.platform_due < today)
    count = session.scalar(
        select(func.count(Objection.id)).where(Objection.filed_at < end, or_(still_open, resolved_later))
    )
    return int(count or 0)


def monthly_report(session: Session, period: str) -> dict[str, Any]:
    start, end = period_bounds(period)
    subs = session.execute(
        select(
            func.count(Submission.id),
            func.count(Submission.id).filter(Submission.late.is_(True)),
            func.count(Submission.id).filter(Submission.kind == "nil"),
        ).where(Submission.month == period)
    ).one()
    objections = {
        "filed": int(
            session.scalar(
                select(func.count(Objection.id)).where(Objection.filed_at >= start, Objection.filed_at < end)
            )
            or 0
        ),
        "resolved": int(
            session.scalar(
                select(func.count(Objection.id)).where(
                    Objection.resolved_at >= start, Objection.resolved_at < end
                )
            )
            or 0
        ),
        "overdue_open": _overdue_open(session, start, end),
    }
    ledger = _by(
        session, LedgerEntryRow.type, LedgerEntryRow.seq, LedgerEntryRow.at >= start, LedgerEntryRow.at < end
    )
    pushes = _by(
        session, PushEvent.status, PushEvent.id, PushEvent.created_at >= start, PushEvent.created_at < end
    )
    leads = _by(
        session, MatchLead.outcome, MatchLead.id, MatchLead.created_at >= start, MatchLead.created_at < end
    )
    revenue = regulator_totals(session, period)
    security = session.execute(
        select(AuditEvent.outcome, AuditEvent.route, func.count(AuditEvent.id))
        .where(AuditEvent.at >= start, AuditEvent.at < end, AuditEvent.outcome.in_(("refused", "error")))
        .group_by(AuditEvent.outcome, AuditEvent.route)
        .order_by(AuditEvent.outcome, AuditEvent.route)
    ).all()
    return {
        "period": period,
        "as_of": min(utcnow(), end).replace(microsecond=0).isoformat(),
        "submissions": {"total": int(subs[0]), "late": int(subs[1]), "nil": int(subs[2])},
        "objections": objections,
        "ledger_entries": dict(sorted(ledger.items())),
        "queries": ledger.get("disclosure", 0),
        "pushes": dict(sorted(pushes.items())),
        "matchmaking": {"leads": sum(leads.values()), "by_outcome": dict(sorted(leads.items()))},
        "market_revenue": {
            "total": str(sum((Decimal(r["total"]) for r in revenue), Decimal("0.00"))),
            "institutions": revenue,
        },
        "security_events": {
            "refused": sum(int(n) for o, _, n in security if o == "refused"),
            "failed": sum(int(n) for o, _, n in security if o == "error"),
            "by_route": [{"outcome": o, "route": r, "count": int(n)} for o, r, n in security],
        },
    }


@dataclass(frozen=True, slots=True)
class Section:
    """One table of the report: its heading and (metric, value) rows, all in words."""

    code: str
    title: str
    rows: list[tuple[str, str]]


def _month_words(period: str, lang: str) -> str:
    year, month = period.split("-")
    return f"{year}-{month}" if lang == "en" else f"{year}年{int(month)}月"


def report_sections(report: dict[str, Any], lang: str = "zh") -> list[Section]:
    """The report as tables a person reads: Chinese (or English) headings and metric names — ledger entry
    types, push statuses, lead outcomes and institutions by their words — amounts in yuan."""

    def words(key: str) -> str:
        return label("ops", key, lang)

    subs, objections = report["submissions"], report["objections"]
    security = report["security_events"]
    revenue = report["market_revenue"]
    return [
        Section(
            "submissions",
            words("submissions"),
            [
                (words("submissions.total"), str(subs["total"])),
                (words("submissions.late"), str(subs["late"])),
                (words("submissions.nil"), str(subs["nil"])),
            ],
        ),
        Section(
            "objections",
            words("objections"),
            [
                (words("objections.filed"), str(objections["filed"])),
                (words("objections.resolved"), str(objections["resolved"])),
                (words("objections.overdue_open"), str(objections["overdue_open"])),
            ],
        ),
        Section(
            "consent_ledger",
            words("consent_ledger"),
            [(words("queries"), str(report["queries"]))]
            + [(label("entry", k, lang), str(v)) for k, v in report["ledger_entries"].items()],
        ),
        Section(
            "pushes",
            words("pushes"),
            [(label("pushstatus", k, lang), str(v)) for k, v in report["pushes"].items()],
        ),
        Section(
            "matchmaking",
            words("matchmaking"),
            [(words("leads"), str(report["matchmaking"]["leads"]))]
            + [(label("outcome", k, lang), str(v)) for k, v in report["matchmaking"]["by_outcome"].items()],
        ),
        Section(
            "market_revenue",
            words("market_revenue"),
            [(words("revenue.total"), cny(revenue["total"], lang))]
            + [(r.get("org_name") or r["org_id"], cny(r["total"], lang)) for r in revenue["institutions"]],
        ),
        Section(
            "security_events",
            words("security_events"),
            [
                (words("security.refused"), str(security["refused"])),
                (words("security.failed"), str(security["failed"])),
            ]
            + [
                (
                    f"{words('security.failed' if e['outcome'] == 'error' else 'security.refused')} "
                    f"{e['route']}",
                    str(e["count"]),
                )
                for e in security["by_route"]
            ],
        ),
    ]


def report_summary(report: dict[str, Any], lang: str = "zh") -> str:
    """A short written summary of the month, the paragraph a supervisor reads before the tables."""
    subs, objections = report["submissions"], report["objections"]
    security = report["security_events"]
    granted = report["matchmaking"]["by_outcome"].get("granted", 0)
    values = {
        "month": _month_words(report["period"], lang),
        "as_of": when(report.get("as_of"), lang),
        "submissions": subs["total"],
        "late": subs["late"],
        "nil": subs["nil"],
        "queries": report["queries"],
        "filed": objections["filed"],
        "resolved": objections["resolved"],
        "overdue": objections["overdue_open"],
        "leads": report["matchmaking"]["leads"],
        "granted": granted,
        "revenue": cny(report["market_revenue"]["total"], lang),
        "refused": security["refused"],
        "failed": security["failed"],
    }
    text = label("ops", "summary", lang)
    return text.format(**values)


def report_csv(report: dict[str, Any], lang: str = "zh") -> str:
    """The tables as one CSV with a header in words: month, section, metric, value."""
    buf = io.StringIO()
    w = SafeCsvWriter(buf, lineterminator="\n")
    w.writerow([label("ops", k, lang) for k in ("col.month", "col.section", "col.metric", "col.value")])
    for section in report_sections(report, lang):
        for metric, value in section.rows:
            w.writerow([report["period"], section.title, metric, value])
    return buf.getvalue()


def report_xlsx(report: dict[str, Any], lang: str = "zh") -> bytes:
    """The report as a workbook: a summary sheet (title, period, summary) and one sheet of all tables."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = label("ops", "sheet", lang)
    title = f"{label('ops', 'title', lang)} · {_month_words(report['period'], lang)}"
    sheet.append([title])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([report_summary(report, lang)])
    sheet.merge_cells("A2:C2")
    sheet["A2"].alignment = Alignment(wrap_text=True, vertical="top")
    sheet.row_dimensions[2].height = 90
    heading_fill = PatternFill("solid", fgColor="E8EEF6")
    for section in report_sections(report, lang):
        sheet.append([])
        sheet.append([section.title])
        sheet.cell(sheet.max_row, 1).font = Font(bold=True)
        sheet.cell(sheet.max_row, 1).fill = heading_fill
        sheet.append([label("ops", "col.metric", lang), label("ops", "col.value", lang)])
        for cell in sheet[sheet.max_row]:
            cell.font = Font(bold=True)
        for metric, value in section.rows:
            sheet.append([spreadsheet_cell(metric), _number(value)])
    sheet.column_dimensions["A"].width = 48
    sheet.column_dimensions["B"].width = 22
    sheet.column_dimensions["C"].width = 30
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _number(value: str) -> Any:
    """A count as a number cell; an amount stays as written (with its currency)."""
    return int(value) if value.isdigit() else spreadsheet_cell(value)


def report_pdf(report: dict[str, Any], lang: str = "zh") -> bytes:
    """The report for print: title, period and time of the figures, the written summary, then one
    headed table per section; page numbers in the footer."""
    from fincredit.platform.core.pdf import new_document, table

    title = f"{label('ops', 'title', lang)} · {_month_words(report['period'], lang)}"
    pdf = new_document(title)
    pdf.set_font("body", size=9)
    pdf.cell(0, 5, label("site", "title", lang), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("body", "B", size=16)
    pdf.cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("body", size=9)
    pdf.cell(
        0,
        5,
        f"{label('ops', 'as_of', lang)}: {when(report.get('as_of'), lang)}",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(2)
    pdf.set_font("body", "B", size=11)
    pdf.cell(0, 7, label("ops", "summary.title", lang), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("body", size=9.5)
    pdf.multi_cell(0, 5.5, report_summary(report, lang), new_x="LMARGIN", new_y="NEXT", align="L")
    for n, section in enumerate(report_sections(report, lang), start=1):
        pdf.ln(2)
        pdf.set_font("body", "B", size=11)
        pdf.set_fill_color(232, 238, 246)
        pdf.cell(0, 7, f"{n}. {section.title}", new_x="LMARGIN", new_y="NEXT", fill=True)
        pdf.set_font("body", size=9)
        rows = [list(r) for r in section.rows] or [[label("ops", "none", lang), "—"]]
        table(
            pdf, [label("ops", "col.metric", lang), label("ops", "col.value", lang)], rows, widths=[130, 60]
        )

    def footer() -> None:
        pdf.set_y(-12)
        pdf.set_font("body", size=7)
        pdf.cell(0, 5, f"{title} · {pdf.page_no()} / {{nb}}", align="C")

    setattr(pdf, "footer", footer)  # noqa: B010 - this document's own footer
    return bytes(pdf.output())


def annual_evaluation(session: Session, year: int) -> dict[str, Any]:
    """The year's evaluation figures (G§21): the monthly figures summed, with rates."""
    months = [monthly_report(session, f"{year:04d}-{m:02d}") for m in range(1, 13)]
    subs = sum(m["submissions"]["total"] for m in months)
    late = sum(m["submissions"]["late"] for m in months)
    leads = sum(m["matchmaking"]["leads"] for m in months)
    granted = sum(m["matchmaking"]["by_outcome"].get("granted", 0) for m in months)
    return {
        "year": year,
        "submissions": subs,
        "submissions_on_time_rate": round((subs - late) / subs, 4) if subs else None,
        "objections_filed": sum(m["objections"]["filed"] for m in months),
        "objections_resolved": sum(m["objections"]["resolved"] for m in months),
        "queries": sum(m["queries"] for m in months),
        "matchmaking_leads": leads,
        "loans_granted": granted,
        "grant_rate": round(granted / leads, 4) if leads else None,
        "market_revenue_cny": str(
            sum((Decimal(m["market_revenue"]["total"]) for m in months), Decimal("0.00"))
        ),
        "security_events": sum(
            m["security_events"]["refused"] + m["security_events"]["failed"] for m in months
        ),
    }


__all__ = [
    "Section",
    "annual_evaluation",
    "monthly_report",
    "report_csv",
    "report_pdf",
    "report_sections",
    "report_summary",
    "report_xlsx",
]
