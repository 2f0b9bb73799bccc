"""Reading the ledger: filtered pages for regulators, a borrower's own accesses with inclusion proofs,
and the export the offline verifier reads."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fincredit.consent import ExportRow, LedgerEntry, write_export
from fincredit.platform.consents import _ledger
from fincredit.platform.consents._records import library_subject
from fincredit.platform.consents._witnesses import published_checkpoint
from fincredit.platform.consents.tables import LedgerEntryRow
from fincredit.platform.core.db import Subject
from fincredit.platform.core.services import Services


@dataclasses.dataclass(frozen=True, slots=True)
class EntryFilter:
    subject_index: str | None = None
    grantee: str | None = None
    purpose: str | None = None
    type: str | None = None
    consent_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def subject_index_of(services: Services, subject: Subject) -> str:
    return _ledger.subject_indexer(services.keyring).index(library_subject(services.keyring, subject))


def entry_view(row: LedgerEntryRow) -> dict[str, Any]:
    entry = LedgerEntry.from_canonical(bytes(row.entry))
    doc = entry.to_json_dict()
    doc["leaf_hash"] = bytes(row.leaf_hash).hex()
    doc["canonical"] = bytes(row.entry).decode("utf-8")
    return doc


def list_entries(
    session: Session,
    flt: EntryFilter,
    *,
    after: int | None,
    limit: int,
    newest_first: bool = False,
) -> tuple[list[LedgerEntryRow], int | None]:
    """One page of matching entries and the cursor of the next page (None on the last). Oldest first,
    ``after`` a sequence number; or newest first (the pages people read), ``after`` then meaning
    "older than this sequence number"."""
    q = _matching(
        select(LedgerEntryRow).order_by(LedgerEntryRow.seq.desc() if newest_first else LedgerEntryRow.seq),
        flt,
    )
    if after is not None:
        q = q.where(LedgerEntryRow.seq < after if newest_first else LedgerEntryRow.seq > after)
    rows = list(session.scalars(q.limit(limit + 1)))
    page = rows[:limit]
    return page, (page[-1].seq if len(rows) > limit else None)


def count_entries(session: Session, flt: EntryFilter) -> int:
    """How many entries match ``flt`` (the explorer's "n of N")."""
    return int(session.scalar(_matching(select(func.count()).select_from(LedgerEntryRow), flt)) or 0)


def _matching(q: Any, flt: EntryFilter) -> Any:
    for column, value in (
        (LedgerEntryRow.subject_index, flt.subject_index),
        (LedgerEntryRow.grantee_org_id, flt.grantee),
        (LedgerEntryRow.purpose, flt.purpose),
        (LedgerEntryRow.type, flt.type),
        (LedgerEntryRow.consent_id, flt.consent_id),
    ):
        if value is not None:
            q = q.where(column == value)
    if flt.since is not None:
        q = q.where(LedgerEntryRow.at >= flt.since)
    if flt.until is not None:
        q = q.where(LedgerEntryRow.at < flt.until)
    return q


def accesses_with_proofs(
    services: Services, subject: Subject, *, after: int | None, limit: int, newest_first: bool = False
) -> dict[str, Any]:
    """Every ledger entry about ``subject``, each with an inclusion proof to the latest checkpoint
    (signed on demand if the newest entry is not yet covered); paged as :func:`list_entries`."""
    checkpoint = published_checkpoint(services)
    size = checkpoint.size
    with services.read() as session:
        index = subject_index_of(services, subject)
        rows, cursor = list_entries(
            session, EntryFilter(subject_index=index), after=after, limit=limit, newest_first=newest_first
        )
        items = []
        for row in rows:
            doc = entry_view(row)
            if row.seq < size:
                proof = _ledger.inclusion_proof(session, int(row.seq), size, with_entry=False)
                doc["inclusion_proof"] = proof.to_json()
            else:  # appended after the checkpoint was read: proved against the next one
                doc["inclusion_proof"] = None
            items.append(doc)
    return {"checkpoint": checkpoint.note, "tree_size": size, "items": items, "next_cursor": cursor}


def _rows(session: Session, size: int, batch: int = 20_000) -> Iterator[ExportRow]:
    last = -1
    while last + 1 < size:
        chunk = session.execute(
            select(LedgerEntryRow.seq, LedgerEntryRow.entry, LedgerEntryRow.leaf_hash)
            .where(LedgerEntryRow.seq > last, LedgerEntryRow.seq < size)
            .order_by(LedgerEntryRow.seq)
            .limit(batch)
        ).all()
        if not chunk:
            return
        for seq, entry, lh in chunk:
            yield ExportRow(int(seq), bytes(entry), bytes(lh))
        last = int(chunk[-1][0])


def export_ledger(services: Services, path: Path, *, size: int | None = None) -> int:
    """Write entries 0..size-1 (default: the whole ledger) as Parquet or JSON lines; returns the count."""
    with services.read() as session:
        total = _ledger.read_size(session)
        size = total if size is None else min(size, total)
        return write_export(_rows(session, size), path)
