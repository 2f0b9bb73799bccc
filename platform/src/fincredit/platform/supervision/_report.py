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
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from fincredit.platform.consents.tables import LedgerEntryRow
from fincredit.platform.core.db import AuditEvent
from fincredit.platform.core.spreadsheet import SafeCsvWriter
from fincredit.platform.free.tables import MatchLead, PushEvent
from fincredit.platform.ingestion.tables import Submission
from fincredit.platform.metered.billing import period_bounds, regulator_totals
from fincredit.platform.objections.tables import Objection


def _by(session: Session, column: Any, count_of: Any, *where: Any) -> dict[str, int]:
    rows = session.execute(select(column, func.count(count_of)).where(*where).group_by(column)).all()
    return {str(k if k is not None else "none"): int(v) for k, v in rows}


def monthly_report(session: Session, period: str) -> dict[str, Any]:
    start, end = period_bounds(period)
    last_day = (end - dt.timedelta(days=1)).date()
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
        "overdue_open": int(
            session.scalar(
                select(func.count(Objection.id)).where(
                    Objection.filed_at < end,
                    Objection.platform_due < last_day,
                    or_(Objection.resolved_at.is_(None), Objection.resolved_at >= end),
                )
            )
            or 0
        ),
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


def report_rows(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(section, metric, value) rows: the CSV and the PDF table."""
    rows: list[tuple[str, str, str]] = []
    for key in ("submissions", "objections"):
        rows += [(key, k, str(v)) for k, v in report[key].items()]
    rows.append(("consent_ledger", "queries", str(report["queries"])))
    rows += [("consent_ledger", k, str(v)) for k, v in report["ledger_entries"].items()]
    rows += [("pushes", k, str(v)) for k, v in report["pushes"].items()]
    rows.append(("matchmaking", "leads", str(report["matchmaking"]["leads"])))
    rows += [("matchmaking", k, str(v)) for k, v in report["matchmaking"]["by_outcome"].items()]
    rows.append(("market_revenue", "total_cny", report["market_revenue"]["total"]))
    rows += [("market_revenue", r["org_id"], r["total"]) for r in report["market_revenue"]["institutions"]]
    rows.append(("security_events", "refused", str(report["security_events"]["refused"])))
    rows.append(("security_events", "failed", str(report["security_events"]["failed"])))
    rows += [
        ("security_events", f"{e['outcome']} {e['route']}", str(e["count"]))
        for e in report["security_events"]["by_route"]
    ]
    return rows


def report_csv(report: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = SafeCsvWriter(buf, lineterminator="\n")
    w.writerow(["period", "section", "metric", "value"])
    for row in report_rows(report):
        w.writerow([report["period"], *row])
    return buf.getvalue()


def report_pdf(report: dict[str, Any]) -> bytes:
    from fincredit.platform.core.pdf import new_document, table

    pdf = new_document(f"fincredit operations report {report['period']}")
    pdf.set_font("body", "B", size=14)
    pdf.cell(
        0, 10, f"月度运行报告 Monthly operations report — {report['period']}", new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font("body", size=9)
    table(pdf, ["section", "metric", "value"], [list(r) for r in report_rows(report)], widths=[40, 100, 40])
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


__all__ = ["annual_evaluation", "monthly_report", "report_csv", "report_pdf", "report_rows"]
