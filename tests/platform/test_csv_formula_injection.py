"""Every CSV the platform writes is safe to open in a spreadsheet program: a text cell that starts like a
formula (= + - @) is written with a leading apostrophe, so it shows as text and never runs."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from fincredit.platform.catalog import change_catalog
from fincredit.platform.core.services import Services
from fincredit.platform.core.spreadsheet import SafeCsvWriter, spreadsheet_cell
from fincredit.platform.ingestion import feedback_csv_chunks, ingest_file
from fincredit.platform.ingestion._watch import write_feedback_csv
from fincredit.platform.testing.plugin import new_institution

ATTACK = "=cmd|' /C calc'!A0"


def test_text_that_starts_like_a_formula_is_quoted_and_numbers_are_left_alone() -> None:
    for text in (ATTACK, "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"):
        assert spreadsheet_cell(text) == "'" + text
    for value in ("宁波示范科技有限公司", "r-1", "", -5, 3.5):
        assert spreadsheet_cell(value) == value
    buf = io.StringIO()
    SafeCsvWriter(buf).writerow([1, ATTACK, "ok"])
    assert next(csv.reader([buf.getvalue()])) == ["1", "'" + ATTACK, "ok"]


def test_the_feedback_report_quotes_a_formula_in_a_provider_record_id(
    services: Services, tmp_path: Path
) -> None:
    provider = new_institution(services, "data_provider")
    with services.tx() as session:
        change_catalog(
            session, changes={"tax_rating": {"provider_org_id": provider.org_id}}, created_by=None, note="t"
        )
    upload = tmp_path / "tax.csv"
    upload.write_text(
        "provider_record_id,subject_id,subject_name,report_month,rating_year,rating,rated_date\n"
        f'"{ATTACK}",not-a-code,某公司,2025-05,2024,A,2025-04-15\n',
        encoding="utf-8",
    )
    result = ingest_file(
        services, provider_org_id=provider.org_id, item_code="tax_rating", month="2025-06", path=upload
    )
    assert result.rows_rejected == 1
    streamed = list(csv.DictReader(io.StringIO("".join(feedback_csv_chunks(services, result.submission_id)))))
    written = tmp_path / "feedback.csv"
    write_feedback_csv(services, result.submission_id, written)
    on_disk = list(csv.DictReader(io.StringIO(written.read_text(encoding="utf-8-sig"))))
    for rows in (streamed, on_disk):
        assert rows and {r["provider_record_id"] for r in rows} == {"'" + ATTACK}
