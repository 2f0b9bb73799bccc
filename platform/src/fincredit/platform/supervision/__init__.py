"""Supervision for the credit authority and regulators (G§18-22, R§22): plan filings, the monthly
operations report (JSON/CSV/PDF/XLSX) generated from the data, annual evaluation figures, security
inspections with remediation, and the expert pool."""

from fincredit.platform.supervision._records import (
    PLAN_KINDS,
    SEVERITIES,
    add_expert,
    experts,
    file_plan,
    inspection_view,
    inspections,
    plans,
    record_inspection,
    remediate,
)
from fincredit.platform.supervision._report import (
    annual_evaluation,
    monthly_report,
    report_csv,
    report_pdf,
    report_sections,
    report_summary,
    report_xlsx,
)

__all__ = [
    "PLAN_KINDS",
    "SEVERITIES",
    "add_expert",
    "annual_evaluation",
    "experts",
    "file_plan",
    "inspection_view",
    "inspections",
    "monthly_report",
    "plans",
    "record_inspection",
    "remediate",
    "report_csv",
    "report_pdf",
    "report_sections",
    "report_summary",
    "report_xlsx",
]
