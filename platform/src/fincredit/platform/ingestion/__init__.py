"""Provider submissions and the ingestion pipeline (R§3, R§7, R§8): streamed Arrow batches through
validate → clean → match → load, feedback reports, deadlines, and the two credit databases' reads."""

from fincredit.platform.ingestion._blind import blind_indexes
from fincredit.platform.ingestion._deadlines import (
    MonthStatus,
    compliance,
    months_between,
    overdue,
    record_verification,
)
from fincredit.platform.ingestion._identifiers import identifiers_valid, resident_id_valid, uscc_valid
from fincredit.platform.ingestion._load import valid_until
from fincredit.platform.ingestion._match import normalise_name, register_subjects
from fincredit.platform.ingestion._pipeline import (
    IngestResult,
    StageTimes,
    due_date,
    file_nil_report,
    ingest_file,
    local_date,
    on_records_loaded,
    parse_month,
    submission_item,
)
from fincredit.platform.ingestion._read import FORMATS, detect_format
from fincredit.platform.ingestion._records import (
    record_history,
    sensitive_fields,
    visible_records,
    visible_records_of,
)
from fincredit.platform.ingestion._watch import (
    DropResult,
    feedback_csv_chunks,
    process_drop_file,
    scan_once,
    watch,
    write_feedback_csv,
)

__all__ = [
    "FORMATS",
    "DropResult",
    "IngestResult",
    "MonthStatus",
    "StageTimes",
    "blind_indexes",
    "compliance",
    "detect_format",
    "due_date",
    "feedback_csv_chunks",
    "file_nil_report",
    "identifiers_valid",
    "ingest_file",
    "local_date",
    "months_between",
    "normalise_name",
    "on_records_loaded",
    "overdue",
    "parse_month",
    "process_drop_file",
    "record_history",
    "record_verification",
    "register_subjects",
    "resident_id_valid",
    "scan_once",
    "sensitive_fields",
    "submission_item",
    "uscc_valid",
    "valid_until",
    "visible_records",
    "visible_records_of",
    "watch",
    "write_feedback_csv",
]
