"""The regulator's pages: the consent log explorer, the ledger's status with a consistency check,
and charts of disclosures, consent events and refusals over time."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fincredit.consent import Checkpoint, ConsistencyProof, EntryType, Purpose, parse_signed_note
from fincredit.platform.consents import (
    EntryFilter,
    _ledger_sheet,
    consistency_proof,
    count_entries,
    entry_view,
    last_self_check,
    list_entries,
    published_checkpoint,
    subject_index_of,
    witness_quorum,
    witness_statuses,
)
from fincredit.platform.consents.tables import LedgerCheckpoint, LedgerEntryRow
from fincredit.platform.core.db import Organisation
from fincredit.platform.core.deps import ServicesDep
from fincredit.platform.core.errors import FincreditError, InvalidInput
from fincredit.platform.core.web.deps import PREFIX, lang_of, page, render
from fincredit.platform.core.web.i18n import translator
from fincredit.platform.identity.principal import Principal
from fincredit.platform.subjects import find_subject

router = APIRouter(prefix=f"{PREFIX}/regulator", include_in_schema=False)
LEDGER_PAGE = 50
Regulator = Annotated[Principal, Depends(page("ledger", "read"))]


def _day(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), dt.UTC)
    except ValueError:
        return None


def _filter(
    services: ServicesDep, session: Session, filters: dict[str, str]
) -> tuple[EntryFilter | None, str | None]:
    """The entry filter the page's URL asks for, or the reason it cannot be built (an invalid subject)."""
    index = None
    if filters["subject"]:
        try:
            index = subject_index_of(services, find_subject(session, services.keyring, filters["subject"]))
        except FincreditError as exc:
            return None, exc.detail
    until_day = _day(filters["until"])
    return EntryFilter(
        subject_index=index,
        grantee=filters["grantee"] or None,
        purpose=filters["purpose"] or None,
        type=filters["type"] or None,
        since=_day(filters["since"]),
        until=until_day + dt.timedelta(days=1) if until_day else None,
    ), None


def _filters(subject: str, grantee: str, purpose: str, type: str, since: str, until: str) -> dict[str, str]:
    return {
        "subject": subject,
        "grantee": grantee,
        "purpose": purpose,
        "type": type,
        "since": since,
        "until": until,
    }


Subject = Annotated[str, Query(max_length=40)]
Grantee = Annotated[str, Query(max_length=64)]
Code = Annotated[str, Query(max_length=40)]
Day = Annotated[str, Query(max_length=10)]


@router.get("", response_class=HTMLResponse)
def ledger_explorer(
    request: Request,
    services: ServicesDep,
    _: Regulator,
    subject: Subject = "",
    grantee: Grantee = "",
    purpose: Code = "",
    type: Code = "",
    since: Day = "",
    until: Day = "",
    older: Annotated[int | None, Query(ge=0)] = None,
    newer: Annotated[int | None, Query(ge=0)] = None,
    per: Annotated[int | None, Query(ge=10, le=200)] = None,
) -> HTMLResponse:
    """One page of the log, newest first, ``per`` rows (50): "older" and "newer" move by sequence number
    (keyset paging: a page stays the same while the log grows), every filter stays in the URL."""
    items: list[dict[str, object]] = []
    older_cursor: int | None = None
    newer_cursor: int | None = None
    total = 0
    size = per or LEDGER_PAGE
    filters = _filters(subject, grantee, purpose, type, since, until)
    with services.read() as session:
        flt, error = _filter(services, session, filters)
        if flt is not None:
            if newer is not None:
                # The page just newer than ``newer``: read upwards, show newest first.
                up, more = list_entries(session, flt, after=newer, limit=size, newest_first=False)
                rows = list(reversed(up))
                newer_cursor = rows[0].seq if more is not None and rows else None
                older_cursor = rows[-1].seq if rows else newer
            else:
                rows, older_cursor = list_entries(session, flt, after=older, limit=size, newest_first=True)
                newer_cursor = rows[0].seq if older is not None and rows else None
            total = count_entries(session, flt)
            items = [entry_view(r) for r in rows]
            # People read institutions by name; the id stays in the row's title for the filter above.
            ids = {str(i["grantee"]) for i in items if i.get("grantee")}
            names = dict(
                session.execute(select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids)))
                .tuples()
                .all()
            )
            for item in items:
                item["grantee_name"] = names.get(str(item.get("grantee")), item.get("grantee"))
    kept = {k: v for k, v in filters.items() if v}
    if per:
        kept["per"] = str(per)
    return render(
        request,
        "regulator/ledger.html",
        items=items,
        filters=filters,
        kept=kept,
        error=error,
        older=older_cursor,
        newer=newer_cursor,
        paged=older is not None or newer is not None,
        per=size,
        total=total,
        purposes=[p.value for p in Purpose],
        entry_types=[e.value for e in EntryType],
    )


@router.get("/ledger.{fmt}")
def ledger_export(
    request: Request,
    services: ServicesDep,
    _: Regulator,
    fmt: Literal["csv", "xlsx"],
    subject: Subject = "",
    grantee: Grantee = "",
    purpose: Code = "",
    type: Code = "",
    since: Day = "",
    until: Day = "",
) -> Response:
    """The entries the page's filters select, as CSV or XLSX (newest first, at most 100,000 rows)."""
    lang = lang_of(request)
    filters = _filters(subject, grantee, purpose, type, since, until)
    with services.read() as session:
        flt, error = _filter(services, session, filters)
        if flt is None:
            raise InvalidInput(error or "the filter is not valid")
        if fmt == "csv":
            body, media = _ledger_sheet.to_csv(session, flt, lang), "text/csv; charset=utf-8"
        else:
            body = _ledger_sheet.to_xlsx(session, flt, lang, translator(lang)("ledger.title"))
            media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="consent-ledger-{stamp}.{fmt}"'},
    )


def _chart(rows: list[tuple[dt.date, str, int]]) -> dict[str, object]:
    """Bars per day for disclosures, consent events and refusals, as plain numbers for an SVG."""
    days = sorted({d for d, _, _ in rows})[-30:]
    series: dict[str, Counter[dt.date]] = {
        "disclosure": Counter(),
        "consent": Counter(),
        "refusal": Counter(),
    }
    for day, kind, n in rows:
        key = "consent" if kind.startswith("consent_") else "refusal" if kind == "refusal" else "disclosure"
        series[key][day] += n
    peak = max([1] + [sum(series[k][d] for k in series) for d in days])
    return {
        "days": [d.isoformat() for d in days],
        "peak": peak,
        "series": {k: [series[k][d] for d in days] for k in series},
    }


@router.get("/status", response_class=HTMLResponse)
def ledger_status(request: Request, services: ServicesDep, _: Regulator) -> HTMLResponse:
    latest = published_checkpoint(services)
    with services.read() as session:
        previous = session.scalar(
            select(LedgerCheckpoint)
            .where(LedgerCheckpoint.size < latest.size)
            .order_by(LedgerCheckpoint.size.desc())
            .limit(1)
        )
        consistency: dict[str, object] = {"checked_at": dt.datetime.now(dt.UTC), "ok": None, "from": None}
        if previous is not None:
            old = Checkpoint.parse_body(parse_signed_note(previous.note)[0])
            new = Checkpoint.parse_body(parse_signed_note(latest.note)[0])
            proof: ConsistencyProof = consistency_proof(session, old.size, new.size)
            try:
                proof.verify(old.root_hash, new.root_hash)
                consistency.update(ok=True, **{"from": old.size})
            except Exception as exc:  # a failed check is exactly what this page must show
                consistency.update(ok=False, error=str(exc), **{"from": old.size})
        day = func.date(LedgerEntryRow.at)
        rows = [
            (r[0] if isinstance(r[0], dt.date) else dt.date.fromisoformat(str(r[0])), r[1], int(r[2]))
            for r in session.execute(
                select(day, LedgerEntryRow.type, func.count()).group_by(day, LedgerEntryRow.type)
            )
        ]
        self_check = last_self_check(session)
    return render(
        request,
        "regulator/status.html",
        checkpoint=latest,
        consistency=consistency,
        chart=_chart(rows),
        witnesses=witness_statuses(services),
        quorum=witness_quorum(services),
        self_check=self_check,
        findings=[] if self_check is None else json.loads(self_check.findings),
    )
