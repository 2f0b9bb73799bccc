"""Information query (G§11): a bank asks for catalog items (optionally single fields) of one subject.

The one gate is :func:`fincredit.platform.consents.authorize_access`: the requested authorized items
(and fields) are the scopes; public-attribute items need no scope of their own and are marked
``"public": true`` — but a query is still an access under a consent for its purpose and mode (a
public-only query names the public items as its scopes). The credit authority is allowed on the
G§16 basis by the same gate. The disclosure is ledgered with the SHA-256 of the exact payload; a
refusal is ledgered by the gate. Expired records are never returned (``visible_records``); records
under objection carry the flag and the running deadline; sensitive fields (R§17) are never returned.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from ..catalog import CatalogItemDef
from ..consents import Allowed, authorize_access, record_disclosure
from ..consents._records import library_subject
from ..db import Subject
from ..db.records import CreditRecord
from ..identity.principal import Principal
from ..ingestion import visible_records
from ..objections import note_disclosure, objection_status
from ..services import Services
from ..subjects import find_subject, subject_name
from ._catalog import catalog_items, field_scope, item_scope
from .errors import UnknownItem

_dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode


@dataclass(frozen=True, slots=True)
class ItemRequest:
    code: str
    fields: tuple[str, ...] | None = None  # None: every non-sensitive field of the item


def digest(payload: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON (sorted keys, compact, UTF-8) of a payload: what the ledger holds."""
    return hashlib.sha256(_dumps(payload).encode()).hexdigest()


def resolve_items(
    session: Session, subject: Subject, wanted: Sequence[ItemRequest] | None
) -> list[tuple[CatalogItemDef, tuple[str, ...] | None]]:
    catalog = catalog_items(session)
    if wanted is None:
        wanted = [ItemRequest(c) for c, i in sorted(catalog.items()) if i.subject_kind == subject.kind]
    out: list[tuple[CatalogItemDef, tuple[str, ...] | None]] = []
    for w in wanted:
        item = catalog.get(w.code)
        if item is None or item.subject_kind != subject.kind:
            raise UnknownItem(f"no catalog item {w.code!r} for {subject.kind} subjects", item=w.code)
        if w.fields is not None:
            names = {f.name for f in item.fields if not f.sensitive}
            bad = [f for f in w.fields if f not in names]
            if bad:
                raise UnknownItem(f"item {w.code} has no disclosable field {bad[0]!r}", item=w.code)
        out.append((item, w.fields))
    return out


def scopes_for(items: Sequence[tuple[CatalogItemDef, tuple[str, ...] | None]]) -> list[str]:
    """The consent scopes a request needs: its authorized items (or their fields); a request of public
    items only names those."""

    def scopes(item: CatalogItemDef, fields: tuple[str, ...] | None) -> list[str]:
        if fields is None:
            return [item_scope(item.code)]
        return [field_scope(item.code, f) for f in fields]

    authorized = [s for i, f in items if i.disclosure != "public" for s in scopes(i, f)]
    return authorized or [s for i, f in items for s in scopes(i, f)]


def record_view(
    record: CreditRecord, fields: tuple[str, ...] | None, item: CatalogItemDef, status: Any
) -> dict[str, Any]:
    public_names = [f.name for f in item.fields if not f.sensitive]
    names = fields if fields is not None else public_names
    return {
        "record_id": record.id,
        "provider_record_id": record.provider_record_id,
        "version": record.version,
        "report_month": record.report_month,
        "event_date": record.event_date.isoformat() if record.event_date else None,
        "valid_until": record.valid_until.isoformat() if record.valid_until else None,
        "negative": record.negative,
        "loaded_at": record.loaded_at.isoformat(),
        "fields": {n: record.data.get(n) for n in names},
        "under_objection": status is not None,
        "objection": None
        if status is None
        else {
            "objection_id": status.objection_id,
            "status": status.status,
            "filed_at": status.filed_at.isoformat(),
            "deadline": status.deadline.isoformat() if status.deadline else None,
        },
    }


def collect(
    session: Session,
    services: Services,
    subject: Subject,
    items: Sequence[tuple[CatalogItemDef, tuple[str, ...] | None]],
    at: dt.date,
) -> tuple[dict[str, Any], list[int]]:
    """The subject block and the visible records of the requested items, objection-flagged."""
    codes = [i.code for i, _ in items]
    records = visible_records(session, subject.id, at, item_codes=codes)
    status = objection_status(session, [r.id for r in records])
    by_item: dict[str, list[CreditRecord]] = {}
    for r in records:
        by_item.setdefault(r.item_code, []).append(r)
    lib = library_subject(services.keyring, subject)
    name = subject_name(session, services.keyring, subject)
    if subject.kind == "natural" and name:
        name = name[0] + "*" * (len(name) - 1)
    out_items = [
        {
            "code": item.code,
            "name": item.name,
            "provider": item.provider_org_id,
            "public": item.disclosure == "public",
            "negative": item.negative,
            "fields": list(fields) if fields is not None else None,
            "records": [record_view(r, fields, item, status.get(r.id)) for r in by_item.get(item.code, [])],
        }
        for item, fields in items
    ]
    body = {
        "subject": {"identifier": lib.masked, "kind": subject.kind, "name": name, "region": subject.region},
        "as_of": at.isoformat(),
        "items": out_items,
    }
    return body, [r.id for r in records]


def information_query(
    session: Session,
    services: Services,
    *,
    principal: Principal,
    identifier: str,
    items: Sequence[ItemRequest] | None,
    purpose: str,
    mode: str = "query",
    route: str = "/api/v1/free/query",
    at: dt.date | None = None,
) -> dict[str, Any]:
    """Run one query in ``session``'s transaction: gate, read, ledger the payload digest, remember
    which organisation received which records (objection outcomes reach it)."""
    subject = find_subject(session, services.keyring, identifier)
    wanted = resolve_items(session, subject, items)
    allowed: Allowed = authorize_access(
        session,
        services,
        principal=principal,
        subject=subject,
        scopes=scopes_for(wanted),
        purpose=purpose,
        mode=mode,
        route=route,
        defer_disclosure=True,
    )
    body, record_ids = collect(session, services, subject, wanted, at or dt.date.today())
    body.update(
        {
            "purpose": purpose,
            "mode": mode,
            "basis": allowed.basis.value,
            "consent_id": allowed.consent_id,
        }
    )
    payload_sha256 = digest(body)
    seq = record_disclosure(session, services, allowed, payload_digest=payload_sha256)
    if principal.org_id is not None and record_ids:
        note_disclosure(session, record_ids, principal.org_id, purpose=purpose)
    return {**body, "payload_sha256": payload_sha256, "ledger_seq": seq, "subject_id": subject.id}
