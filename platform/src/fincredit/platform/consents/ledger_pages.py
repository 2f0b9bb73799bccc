"""The regulator's pages: the consent log explorer, the ledger's status with a consistency check,
and charts of disclosures, consent events and refusals over time."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select

from fincredit.consent import Checkpoint, ConsistencyProof, EntryType, Purpose, parse_signed_note
from fincredit.platform.consents import (
    EntryFilter,
    consistency_proof,
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
from fincredit.platform.core.errors import FincreditError
from fincredit.platform.core.web.deps import PREFIX, page, render
from fincredit.platform.identity.principal import Principal
from fincredit.platform.subjects import find_subject

router = APIRouter(prefix=f"{PREFIX}/regulator", include_in_schema=False)
LEDGER_PAGE = 200
Regulator = Annotated[Principal, Depends(page("ledger", "read"))]


def _day(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), dt.UTC)
    except ValueError:
        return None


@router.get("", response_class=HTMLResponse)
def ledger_explorer(
    request: Request,
    services: ServicesDep,
    _: Regulator,
    subject: Annotated[str, Query(max_length=40)] = "",
    grantee: Annotated[str, Query(max_length=64)] = "",
    purpose: Annotated[str, Query(max_length=40)] = "",
    type: Annotated[str, Query(max_length=40)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    older: Annotated[int | None, Query(ge=0)] = None,
) -> HTMLResponse:
    error = None
    items: list[dict[str, object]] = []
    cursor: int | None = None
    with services.read() as session:
        index = None
        try:
            if subject:
                index = subject_index_of(services, find_subject(session, services.keyring, subject))
        except FincreditError as exc:
            error = exc.detail
        if error is None:
            until_day = _day(until)
            flt = EntryFilter(
                subject_index=index,
                grantee=grantee or None,
                purpose=purpose or None,
                type=type or None,
                since=_day(since),
                until=until_day + dt.timedelta(days=1) if until_day else None,
            )
            rows, cursor = list_entries(session, flt, after=older, limit=LEDGER_PAGE, newest_first=True)
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
    filters = {
        "subject": subject,
        "grantee": grantee,
        "purpose": purpose,
        "type": type,
        "since": since,
        "until": until,
    }
    return render(
        request,
        "regulator/ledger.html",
        items=items,
        filters=filters,
        error=error,
        older=cursor,
        paged=older,
        purposes=[p.value for p in Purpose],
        entry_types=[e.value for e in EntryType],
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
