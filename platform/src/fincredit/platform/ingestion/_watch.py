"""The drop folder: a directory the operator assigns to one provider (an SFTP landing directory, a
shared folder). Files named ``<item>__<YYYY-MM>[__anything].<csv|parquet|arrow>`` are submissions,
``<item>__<YYYY-MM>.nil`` a nil report. The provider is the folder's, never taken from the file name,
so writing into one provider's folder cannot submit as another.

A file is picked up once its size has stopped changing (a copy in progress is left alone), then moved
to ``processed/`` with ``<name>.result.json`` and ``<name>.feedback.csv``, or to ``rejected/`` with
``<name>.problem.json`` when the whole file was refused.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import select

from fincredit.platform.core.errors import FincreditError
from fincredit.platform.core.services import Services
from fincredit.platform.core.spreadsheet import SafeCsvWriter
from fincredit.platform.core.web.formats import NameBook
from fincredit.platform.core.web.i18n import label
from fincredit.platform.ingestion._pipeline import file_nil_report, ingest_file
from fincredit.platform.ingestion.tables import Submission, SubmissionFeedback

NAME = re.compile(
    r"^(?P<item>[a-z][a-z0-9_]{1,63})__(?P<month>\d{4}-(0[1-9]|1[0-2]))(__[^/]*)?"
    r"\.(?P<ext>csv|txt|parquet|pq|arrow|feather|ipc|nil)$"
)
_FORMAT = {"csv": "csv", "txt": "csv", "parquet": "parquet", "pq": "parquet"}
_FORMAT.update({"arrow": "arrow", "feather": "arrow", "ipc": "arrow"})


@dataclass(frozen=True, slots=True)
class DropResult:
    file: str
    outcome: str  # processed | nil | rejected
    submission_id: int | None
    detail: str


def _move(path: Path, folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    if target.exists():
        target = folder / f"{path.stem}.{int(time.time() * 1000)}{path.suffix}"
    shutil.move(str(path), target)
    return target


FEEDBACK_COLUMNS = ("row", "provider_record_id", "field", "reason", "detail")


# The same report for a clerk opening it in a spreadsheet: a header in words, the line of the file (as
# the page numbers it: the header is line 1), the field's catalog title and the problem in words.
FEEDBACK_HEADER_WORDS = ("文件行号", "记录编号", "字段", "问题", "说明")


def feedback_csv_chunks(
    services: Services, submission_id: int, *, bom: bool = False, words: bool = False
) -> Iterator[str]:
    """The feedback report (R§8) of one submission as CSV text in chunks, for a streamed download
    (``bom`` prefixes a UTF-8 byte-order mark so spreadsheet programs read the Chinese correctly;
    ``words``: for people — Chinese header, field titles and problems in words, file line numbers)."""
    buf = io.StringIO()
    if bom:
        buf.write("\ufeff")
    writer = SafeCsvWriter(buf)
    writer.writerow(FEEDBACK_HEADER_WORDS if words else FEEDBACK_COLUMNS)
    with services.read() as session:
        names = NameBook(session)
        item_code = session.scalar(select(Submission.item_code).where(Submission.id == submission_id))
        q = (
            select(SubmissionFeedback)
            .where(SubmissionFeedback.submission_id == submission_id)
            .order_by(SubmissionFeedback.row, SubmissionFeedback.id)
            .execution_options(yield_per=2000)
        )
        for i, fb in enumerate(session.scalars(q)):
            if words:
                field = names.field(item_code, fb.field) if fb.field else "—"
                row = [
                    fb.row + 2,
                    fb.provider_record_id or "",
                    field,
                    label("rowproblem", fb.reason),
                    fb.detail,
                ]
            else:
                row = [fb.row, fb.provider_record_id or "", fb.field, fb.reason, fb.detail]
            writer.writerow(row)
            if i % 1000 == 999:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
    yield buf.getvalue()


def write_feedback_csv(services: Services, submission_id: int, out: Path) -> int:
    with services.read() as session, out.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = SafeCsvWriter(fh)
        writer.writerow(FEEDBACK_COLUMNS)
        n = 0
        q = (
            select(SubmissionFeedback)
            .where(SubmissionFeedback.submission_id == submission_id)
            .order_by(SubmissionFeedback.row, SubmissionFeedback.id)
        )
        for fb in session.scalars(q.execution_options(yield_per=2000)):
            writer.writerow([fb.row, fb.provider_record_id or "", fb.field, fb.reason, fb.detail])
            n += 1
    return n


def process_drop_file(
    services: Services, provider_org_id: str, path: Path, *, channel: str = "drop"
) -> DropResult:
    """Process one dropped file and file it away under ``processed/`` or ``rejected/``."""
    root = path.parent
    m = NAME.match(path.name)
    try:
        if m is None:
            raise FincreditError(
                "the file name must be <item>__<YYYY-MM>.<csv|parquet|arrow> (or .nil for a nil report)"
            )
        item, month, ext = m["item"], m["month"], m["ext"]
        if ext == "nil":
            sub = file_nil_report(
                services, provider_org_id=provider_org_id, item_code=item, month=month, channel=channel
            )
            result = DropResult(path.name, "nil", sub.id, f"nil report for {item} {month}")
        else:
            r = ingest_file(
                services,
                provider_org_id=provider_org_id,
                item_code=item,
                month=month,
                path=path,
                file_format=_FORMAT[ext],
                channel=channel,
            )
            result = DropResult(
                path.name,
                "processed",
                r.submission_id,
                f"{r.rows_total} rows: {r.rows_new} new, {r.rows_changed} changed, "
                f"{r.rows_unchanged} unchanged, {r.rows_rejected} rejected"
                + (" (this file was processed before)" if r.duplicate else ""),
            )
    except FincreditError as exc:
        moved = _move(path, root / "rejected")
        problem = {
            "type": f"/problems/{exc.slug}",
            "title": exc.title,
            "detail": exc.detail,
            **exc.extensions,
        }
        moved.with_name(moved.name + ".problem.json").write_text(
            json.dumps(problem, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
        )
        return DropResult(path.name, "rejected", None, exc.detail)
    moved = _move(path, root / "processed")
    moved.with_name(moved.name + ".result.json").write_text(
        json.dumps(asdict(result), ensure_ascii=False, indent=1), encoding="utf-8"
    )
    if result.outcome == "processed" and result.submission_id is not None:
        write_feedback_csv(services, result.submission_id, moved.with_name(moved.name + ".feedback.csv"))
    return result


def scan_once(
    services: Services, provider_org_id: str, folder: Path, sizes: dict[str, int], *, settle: bool = True
) -> list[DropResult]:
    """Process every settled file in ``folder``. ``sizes`` carries the sizes seen at the previous scan:
    a file is taken only when its size is the same as then (``settle=False`` takes everything now)."""
    results = []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        if path.name.endswith((".part", ".tmp")):
            continue
        size = path.stat().st_size
        if settle and sizes.get(path.name) != size:
            sizes[path.name] = size
            continue
        sizes.pop(path.name, None)
        results.append(process_drop_file(services, provider_org_id, path))
    return results


def watch(
    services: Services,
    provider_org_id: str,
    folder: Path,
    *,
    interval: float = 5.0,
    on_result: Callable[[DropResult], None] = print,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """Poll ``folder`` every ``interval`` seconds until ``should_stop()`` (polling works on every file
    system, network shares included, where change notifications often do not)."""
    folder.mkdir(parents=True, exist_ok=True)
    sizes: dict[str, int] = {}
    while not should_stop():
        for result in scan_once(services, provider_org_id, folder, sizes):
            on_result(result)
        time.sleep(interval)
