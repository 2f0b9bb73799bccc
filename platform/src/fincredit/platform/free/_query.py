"""Information query (G§11): a bank asks for catalog items (optionally single fields) of one subject.

The one gate is the consent ledger's (:class:`fincredit.platform.consents.AccessBatch`, the batch form of
:func:`~fincredit.platform.consents.authorize_access`): the requested authorized items
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from fincredit.consent import ConsentStatus, scope_covers
from fincredit.platform.catalog import CatalogItemDef
from fincredit.platform.consents import AccessAsk, AccessBatch, Outcome
from fincredit.platform.consents.tables import Consent
from fincredit.platform.core.db import AuditEvent, Subject, insert_rows
from fincredit.platform.core.errors import FincreditError, Unauthenticated
from fincredit.platform.core.services import Services
from fincredit.platform.free._catalog import catalog_items, field_scope, item_scope
from fincredit.platform.free.errors import UnknownItem
from fincredit.platform.identity.principal import Principal
from fincredit.platform.identity.tokens import still_valid
from fincredit.platform.ingestion import visible_records_of
from fincredit.platform.ingestion.tables import CreditRecord
from fincredit.platform.objections import note_disclosures, objection_status_of
from fincredit.platform.subjects import find_subjects, subject_names

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


@dataclass(frozen=True, slots=True)
class QueryRequest:
    """One bank's information query, as the route received it."""

    principal: Principal
    identifier: str
    items: tuple[ItemRequest, ...] | None = None
    purpose: str = "loan_application_assessment"
    mode: str = "query"
    route: str = "/api/v1/free/query"
    # (account id, key id) to re-check in the query's transaction when the route took the principal
    # from its memory of verified tokens (``require_confirmed``); None when the gate already checked.
    caller: tuple[str, str | None] | None = None
    # The request's audit row for an HTTP status and subject reference: written in the query's own
    # transaction, so the trail and the disclosure commit together. None: the caller audits.
    audit: Callable[[int, str | None], dict[str, Any]] | None = None


# What one query gets back: the disclosed payload (with ``payload_sha256``, ``ledger_seq`` and the
# internal ``subject_id``), or the error that answers it (unknown subject or item, refusal, ...).
QueryAnswer = dict[str, Any] | FincreditError


def _body(
    subject: Subject,
    name: str,
    items: Sequence[tuple[CatalogItemDef, tuple[str, ...] | None]],
    records: Sequence[CreditRecord],
    status: dict[int, Any],
    at: dt.date,
) -> tuple[dict[str, Any], list[int]]:
    """The subject block and the visible records of the requested items, objection-flagged."""
    wanted = {i.code for i, _ in items}
    shown = [r for r in records if r.item_code in wanted]
    by_item: dict[str, list[CreditRecord]] = {}
    for r in shown:
        by_item.setdefault(r.item_code, []).append(r)
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
        "subject": {
            "identifier": subject.code_masked,
            "kind": subject.kind,
            "name": name,
            "region": subject.region,
        },
        "as_of": at.isoformat(),
        "items": out_items,
    }
    return body, [r.id for r in shown]


def collect(
    session: Session,
    services: Services,
    subject: Subject,
    items: Sequence[tuple[CatalogItemDef, tuple[str, ...] | None]],
    at: dt.date,
) -> tuple[dict[str, Any], list[int]]:
    """The subject block and the visible records of the requested items of one subject (the report)."""
    records = visible_records_of(session, [subject.id], at, item_codes=[i.code for i, _ in items])
    shown = records.get(subject.id, [])
    status = objection_status_of(session, shown)
    name = subject_names(session, services.keyring, [subject])[subject.id]
    return _body(subject, name, items, shown, status, at)


_AUDIT_EVENTS = cast(Table, AuditEvent.__table__)


def _audit_rows(
    requests: Sequence[QueryRequest], answers: Sequence[QueryAnswer | None], disclosed: dict[int, int]
) -> list[dict[str, Any]]:
    """The audit rows of the requests that asked for one: 200 with the subject for a disclosure (by
    request position in ``disclosed``), the error's status otherwise (an unanswered one is a refusal:
    403)."""
    rows = []
    for i, request in enumerate(requests):
        if request.audit is None:
            continue
        error = answers[i]
        if i in disclosed:
            rows.append(request.audit(200, str(disclosed[i])))
        else:
            rows.append(request.audit(error.status if isinstance(error, FincreditError) else 403, None))
    return rows


def _covered_by_consents(
    session: Session,
    request: QueryRequest,
    subject: Subject,
    wanted: list[tuple[CatalogItemDef, tuple[str, ...] | None]],
) -> tuple[list[tuple[CatalogItemDef, tuple[str, ...] | None]], list[str]]:
    """A query without an item list asks for what the caller may see: the public items and those its
    live consents from the subject cover for this purpose and mode, listing the items left out. With no
    covering consent at all the whole list goes to the gate, which says why (none, revoked, ...)."""
    if request.principal.is_credit_authority or request.principal.org_id is None:
        return wanted, []
    rows = session.execute(
        select(Consent.scopes, Consent.modes).where(
            Consent.subject_id == subject.id,
            Consent.grantee_org_id == request.principal.org_id,
            Consent.purpose == request.purpose,
            Consent.state == ConsentStatus.ACTIVE.value,
        )
    )
    granted = [s for scopes, modes in rows if request.mode in modes for s in scopes]
    covered = [
        (item, fields)
        for item, fields in wanted
        if item.disclosure == "public"
        or any(scope_covers(g, item_scope(item.code), subject.kind) for g in granted)
    ]
    if not any(item.disclosure != "public" for item, _ in covered):
        return wanted, []
    kept = {item.code for item, _ in covered}
    return covered, [item.code for item, _ in wanted if item.code not in kept]


def run_queries(
    session: Session, services: Services, requests: Sequence[QueryRequest], *, at: dt.date | None = None
) -> list[QueryAnswer]:
    """Answer many queries in ``session``'s one transaction, each as if it had come alone.

    A caller taken from the route's memory of verified tokens is first re-checked here (account,
    organisation and key still active), in the transaction that discloses. Each query is then gated
    (:class:`~fincredit.platform.consents.AccessBatch`), its payload built and its
    digest ledgered; refusals are ledgered too, and answered with :class:`ConsentRefused`. Errors found
    before the gate (bad identifier, unknown subject or item, bad purpose) write nothing for that query.
    The work is shared: one lookup each for the callers, the subjects with their names, the consents
    (locked), the records and the objections; one bulk update of the consents' use counts, one insert of
    the disclosure notes and one ledger append for the whole batch.
    """
    at = at or dt.date.today()
    keyring = services.keyring
    answers: list[QueryAnswer | None] = [None] * len(requests)
    asks: list[AccessAsk] = []
    gated: list[tuple[int, list[tuple[CatalogItemDef, tuple[str, ...] | None]]]] = []
    uncovered: dict[int, list[str]] = {}
    callers = [r.caller for r in requests if r.caller is not None]
    valid = still_valid(session, callers) if callers else set()
    names: dict[int, str] = {}
    for i, (request, found) in enumerate(
        zip(
            requests,
            find_subjects(session, keyring, [r.identifier for r in requests], names=names),
            strict=True,
        )
    ):
        if request.caller is not None and request.caller not in valid:
            answers[i] = Unauthenticated(
                "the account, its organisation or the key behind this token is disabled"
            )
            continue
        if not isinstance(found, Subject):
            answers[i] = found
            continue
        try:
            wanted = resolve_items(session, found, request.items)
        except UnknownItem as exc:
            answers[i] = exc
            continue
        if request.items is None:
            wanted, uncovered[i] = _covered_by_consents(session, request, found, wanted)
        scopes = frozenset(scopes_for(wanted))
        asks.append(AccessAsk(request.principal, found, scopes, request.purpose, request.mode, request.route))
        gated.append((i, wanted))
    batch = AccessBatch(session, services)
    outcomes = batch.decide(asks)
    allowed = [
        (i, w, o) for (i, w), o in zip(gated, outcomes, strict=True) if isinstance(o, Outcome) and o.permitted
    ]
    subjects = [o.ask.subject for _, _, o in allowed]
    codes = {item.code for _, wanted, _ in allowed for item, _ in wanted}
    records = visible_records_of(session, [s.id for s in subjects], at, item_codes=sorted(codes))
    status = objection_status_of(session, [r for rs in records.values() for r in rs])
    bodies: dict[int, dict[str, Any]] = {}
    shown: list[tuple[int, str, str | None]] = []
    for i, wanted, outcome in allowed:
        subject = outcome.ask.subject
        body, record_ids = _body(subject, names[subject.id], wanted, records.get(subject.id, []), status, at)
        decision = outcome.allowed
        assert decision is not None
        request = requests[i]
        body.update(
            {
                "purpose": request.purpose,
                "mode": request.mode,
                "basis": decision.basis.value,
                "consent_id": decision.consent_id,
            }
        )
        if i in uncovered:
            body["items_not_covered"] = uncovered[i]
        batch.disclose(outcome, digest(body))
        bodies[i] = body
        if request.principal.org_id is not None:
            shown += [(rid, request.principal.org_id, request.purpose) for rid in record_ids]
    note_disclosures(session, shown)
    disclosed = {i: o.ask.subject.id for i, _, o in allowed}
    insert_rows(session, _AUDIT_EVENTS, _audit_rows(requests, answers, disclosed))
    # Last before the commit: the ledger head stays locked from here to the commit, and every other
    # writer (the other worker processes' batches) waits for it.
    batch.write()
    for (i, _), result in zip(gated, outcomes, strict=True):
        if isinstance(result, FincreditError):
            answers[i] = result
        elif i not in bodies:
            answers[i] = result.refusal()
        else:
            answers[i] = {
                **bodies[i],
                "payload_sha256": result.payload_digest,
                "ledger_seq": result.ledger_seq,
                "subject_id": result.ask.subject.id,
            }
    assert all(a is not None for a in answers), "every query gets an answer"
    return cast(list[QueryAnswer], answers)
