"""The regulator's ledger explorer as a spreadsheet: the entries matching the page's filters, newest first,
with worded headers and cells (Beijing time, entry types, purposes and refusal reasons in words,
institutions by name, subjects masked), as CSV (UTF-8 with BOM, which spreadsheet programs need to read
Chinese) or XLSX. Read in batches, so a large export does not hold the ledger in memory twice."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from sqlalchemy.orm import Session

from fincredit.platform.consents._queries import EntryFilter, entry_view, list_entries
from fincredit.platform.core.spreadsheet import SafeCsvWriter, spreadsheet_cell
from fincredit.platform.core.web.formats import NameBook, when
from fincredit.platform.core.web.i18n import label, translator

EXPORT_LIMIT = 100_000  # rows; a wider question is the Parquet export's (/api/v1/ledger/export)
_BATCH = 2_000
COLUMNS = (
    "ledger.col.seq",
    "ledger.col.at",
    "ledger.col.type",
    "ledger.col.reason",
    "ledger.col.grantee",
    "ledger.col.subject",
    "ledger.col.purpose",
    "ledger.col.consent",
)


def header(lang: str) -> list[str]:
    t = translator(lang)
    return [t(key) for key in COLUMNS]


def rows(session: Session, flt: EntryFilter, lang: str, limit: int = EXPORT_LIMIT) -> Iterator[list[Any]]:
    """The matching entries as worded rows, newest first, at most ``limit``."""
    names = NameBook(session, lang)
    cursor: int | None = None
    sent = 0
    while sent < limit:
        batch, cursor = list_entries(
            session, flt, after=cursor, limit=min(_BATCH, limit - sent), newest_first=True
        )
        for row in batch:
            e = entry_view(row)
            yield [
                int(e["seq"]),
                when(e.get("at"), lang, seconds=True),
                label("entry", str(e["type"]), lang),
                label("reason", str(e["reason"]), lang) if e.get("reason") else "",
                names.org(str(e["grantee"])) if e.get("grantee") else "",
                e.get("subject_masked") or "",
                label("purpose", str(e["purpose"]), lang) if e.get("purpose") else "",
                e.get("consent_id") or "",
            ]
        sent += len(batch)
        if cursor is None:
            return


def to_csv(session: Session, flt: EntryFilter, lang: str) -> bytes:
    out = io.StringIO()
    out.write("\ufeff")
    writer = SafeCsvWriter(out)
    writer.writerow(header(lang))
    for row in rows(session, flt, lang):
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


def to_xlsx(session: Session, flt: EntryFilter, lang: str, title: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    sheet.freeze_panes = "A2"
    for column, width in zip("ABCDEFGH", (10, 24, 16, 16, 30, 22, 20, 40), strict=True):
        sheet.column_dimensions[column].width = width
    bold = Font(bold=True)
    heads = []
    for text in header(lang):
        cell = WriteOnlyCell(sheet, value=text)
        cell.font = bold
        heads.append(cell)
    sheet.append(heads)
    for row in rows(session, flt, lang):
        sheet.append([spreadsheet_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
