"""Supervision (G§18-22, R§22): work plans, monthly reports, statistics, inspections, experts."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from fincredit.platform.core.registry import Capability, ScheduledTask
from fincredit.platform.core.workdays import missing_calendar_year
from fincredit.platform.supervision import monthly_report, pages, report_csv, report_pdf, router

if TYPE_CHECKING:
    from fincredit.platform.core.services import Services


def _gauges(session: Session) -> Iterable[tuple[str, str, float]]:
    missing = 1.0 if missing_calendar_year() is not None else 0.0
    return [
        (
            "1 from November on while next year's working-day calendar is missing.",
            "workday_calendar_missing",
            missing,
        )
    ]


def reports_dir(var_dir: Path) -> Path:
    return var_dir / "reports" / "operations"


def _file_monthly_report(services: Services, tick: dt.datetime) -> str:
    """File the report of the month before the tick as JSON, CSV and PDF, as generated at its close (the
    pages and the API compute it afresh). A month already filed is left as it is."""
    period = (tick.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    folder = reports_dir(services.settings.var_dir)
    if (folder / f"operations-{period}.pdf").exists():
        return f"report {period} already filed"
    folder.mkdir(parents=True, exist_ok=True)
    with services.read() as session:
        report = monthly_report(session, period)
    payloads = {
        "json": json.dumps(report, ensure_ascii=False, indent=1, default=str).encode(),
        "csv": report_csv(report).encode("utf-8-sig"),
        "pdf": report_pdf(report),  # written last: its presence means the month is filed
    }
    for ext, data in payloads.items():
        target = folder / f"operations-{period}.{ext}"
        partial = target.with_name(target.name + ".part")
        partial.write_bytes(data)
        partial.replace(target)
    return f"report {period} filed in {folder}"


CAPABILITY = Capability(
    name="supervision",
    summary="Annual plan, monthly operations reports, security checks, expert pool (G§18-22, R§22)",
    route_order=12,
    routers=(router.router,),
    pages=(pages.router,),
    gauges=_gauges,
    policies=(
        ("regulator", "supervision", "read"),
        ("credit_authority", "supervision", "read"),
        ("credit_authority", "supervision", "inspect"),
        ("credit_authority", "supervision", "experts"),
        ("regulator", "supervision", "inspect"),
    ),
    tasks=(
        ScheduledTask(
            "supervision.monthly_report",
            "30 0 1 * *",
            _file_monthly_report,
            "File last month's operations report (JSON, CSV, PDF) under <var_dir>/reports/operations",
        ),
    ),
)
