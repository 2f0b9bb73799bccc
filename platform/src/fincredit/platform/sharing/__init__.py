"""Sharing with government departments (R§12-15): agreements, provider approval of conditional
items, and the three modes — verification (yes/no), query, batch exchange (Parquet, downloadable once)."""

from fincredit.platform.sharing._agreements import (
    EXPORT_COLUMNS,
    MODES,
    agreement_view,
    approve,
    authorize_sharing,
    create_agreement,
    get_agreement,
    get_job,
    pending_approvals,
    query,
    run_batch,
    take_download,
    verify,
)
from fincredit.platform.sharing.errors import ExportGone, SharingRefused

__all__ = [
    "EXPORT_COLUMNS",
    "MODES",
    "ExportGone",
    "SharingRefused",
    "agreement_view",
    "approve",
    "authorize_sharing",
    "create_agreement",
    "get_agreement",
    "get_job",
    "pending_approvals",
    "query",
    "run_batch",
    "take_download",
    "verify",
]
