"""Sharing agreements with government departments (R§12-15) and the three modes.

An agreement names the department, the catalog items, the purpose, the modes (``verification``,
``query``, ``batch``), the validity window and, for batch exchange, the population. It is *active*
while inside its window, not terminated, and once every conditional item's provider has recorded its
approval (R§13). Every answer and every refusal is written to ``sharing_events`` (the domain audit,
with the SHA-256 of what was disclosed); a refusal is written in its own transaction so it stays on
the record although the request fails.

Government sharing rests on the agreement (a statutory basis), not on a subject's consent, so these
disclosures are audited in ``sharing_events`` rather than passed through the consent gate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session

from fincredit.platform.catalog import CatalogItemDef, current_version, items_of
from fincredit.platform.core.db import Subject, utcnow
from fincredit.platform.core.errors import Forbidden, InvalidInput, NotFound
from fincredit.platform.core.services import Services
from fincredit.platform.identity.principal import Principal
from fincredit.platform.ingestion import visible_records
from fincredit.platform.ingestion.tables import CreditRecord
from fincredit.platform.sharing.errors import ExportGone, SharingRefused
from fincredit.platform.sharing.tables import SharingAgreement, SharingApproval, SharingEvent, SharingJob
from fincredit.platform.subjects import find_subject

MODES = ("verification", "query", "batch")
_dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode


def _catalog(session: Session) -> dict[str, CatalogItemDef]:
    return {i.code: i for i in items_of(session, current_version(session))}


def create_agreement(session: Session, principal: Principal, spec: dict[str, Any]) -> SharingAgreement:
    catalog = _catalog(session)
    unknown = [c for c in spec["items"] if c not in catalog]
    if unknown:
        raise InvalidInput(f"no catalog item {unknown[0]!r}")
    bad = [m for m in spec["modes"] if m not in MODES]
    if bad or not spec["modes"]:
        raise InvalidInput(f"modes are some of {MODES}")
    if spec["valid_until"] <= spec["valid_from"]:
        raise InvalidInput("an agreement ends after it starts")
    row = SharingAgreement(
        id=f"agr_{uuid.uuid4().hex[:16]}",
        department_org_id=spec["department_org_id"],
        items=sorted(set(spec["items"])),
        purpose=spec["purpose"],
        modes=sorted(set(spec["modes"])),
        population=spec.get("population") or {},
        valid_from=spec["valid_from"],
        valid_until=spec["valid_until"],
        created_by=principal.account_id,
    )
    session.add(row)
    session.flush()
    return row


def pending_approvals(session: Session, agreement: SharingAgreement) -> list[dict[str, str]]:
    """Conditional items still waiting for their provider's approval."""
    catalog = _catalog(session)
    approved = set(
        session.scalars(select(SharingApproval.item_code).where(SharingApproval.agreement_id == agreement.id))
    )
    return [
        {"item": c, "provider": catalog[c].provider_org_id}
        for c in agreement.items
        if c in catalog and catalog[c].sharing == "conditional" and c not in approved
    ]


def approve(
    session: Session, principal: Principal, agreement_id: str, item_code: str, note: str = ""
) -> SharingApproval:
    agreement = get_agreement(session, agreement_id)
    catalog = _catalog(session)
    if item_code not in agreement.items or item_code not in catalog:
        raise InvalidInput(f"item {item_code} is not in agreement {agreement_id}")
    if catalog[item_code].provider_org_id != principal.org_id:
        raise Forbidden(f"only the provider of {item_code} approves sharing it")
    row = SharingApproval(
        agreement_id=agreement_id,
        item_code=item_code,
        provider_org_id=principal.org_id,
        approved_by=principal.account_id,
        note=note,
    )
    session.add(row)
    session.flush()
    return row


def get_agreement(session: Session, agreement_id: str) -> SharingAgreement:
    row = session.get(SharingAgreement, agreement_id)
    if row is None:
        raise NotFound(f"no sharing agreement {agreement_id}")
    return row


def agreement_view(session: Session, row: SharingAgreement, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    pending = pending_approvals(session, row)
    return {
        "id": row.id,
        "department_org_id": row.department_org_id,
        "items": row.items,
        "purpose": row.purpose,
        "modes": row.modes,
        "population": row.population,
        "valid_from": row.valid_from,
        "valid_until": row.valid_until,
        "terminated_at": row.terminated_at,
        "pending_approvals": pending,
        "active": _inactive_reason(row, pending, now) is None,
    }


def _inactive_reason(row: SharingAgreement, pending: list[dict[str, str]], now: dt.datetime) -> str | None:
    if row.terminated_at is not None:
        return "terminated"
    if now < row.valid_from:
        return "not_yet_valid"
    if now >= row.valid_until:
        return "expired"
    if pending:
        return "awaiting_provider_approval"
    return None


def _event(
    session: Session,
    principal: Principal,
    mode: str,
    *,
    agreement_id: str | None,
    subject_id: int | None,
    items: Sequence[str],
    outcome: str,
    detail: str = "",
    payload_sha256: str | None = None,
) -> None:
    session.add(
        SharingEvent(
            agreement_id=agreement_id,
            department_org_id=principal.org_id or "",
            account_id=principal.account_id,
            mode=mode,
            subject_id=subject_id,
            items=list(items),
            outcome=outcome,
            detail=detail[:2000],
            payload_sha256=payload_sha256,
        )
    )


def _refuse(
    session: Session,
    services: Services,
    principal: Principal,
    mode: str,
    agreement_id: str | None,
    items: Sequence[str],
    reason: str,
    detail: str,
) -> SharingRefused:
    session.rollback()
    with services.tx() as own:
        _event(
            own,
            principal,
            mode,
            agreement_id=agreement_id,
            subject_id=None,
            items=items,
            outcome="refused",
            detail=f"{reason}: {detail}",
        )
    return SharingRefused(detail, reason=reason)


def authorize_sharing(
    session: Session,
    services: Services,
    principal: Principal,
    *,
    agreement_id: str,
    mode: str,
    purpose: str,
    items: Sequence[str],
) -> SharingAgreement:
    """The department's use must fall inside an active agreement of its own; else refused (audited)."""
    row = session.get(SharingAgreement, agreement_id)
    if row is None or row.department_org_id != principal.org_id:
        raise _refuse(
            session,
            services,
            principal,
            mode,
            agreement_id,
            items,
            "no_agreement",
            f"your department has no sharing agreement {agreement_id}",
        )
    reason = _inactive_reason(row, pending_approvals(session, row), utcnow())
    if reason is not None:
        raise _refuse(
            session,
            services,
            principal,
            mode,
            agreement_id,
            items,
            reason,
            f"agreement {agreement_id} is not active ({reason})",
        )
    if mode not in row.modes:
        raise _refuse(
            session,
            services,
            principal,
            mode,
            agreement_id,
            items,
            "mode_not_agreed",
            f"agreement {agreement_id} does not allow {mode}",
        )
    if purpose != row.purpose:
        raise _refuse(
            session,
            services,
            principal,
            mode,
            agreement_id,
            items,
            "purpose_not_agreed",
            f"agreement {agreement_id} is for the purpose {row.purpose!r}",
        )
    outside = sorted(set(items) - set(row.items))
    if outside:
        raise _refuse(
            session,
            services,
            principal,
            mode,
            agreement_id,
            items,
            "item_not_agreed",
            f"items outside agreement {agreement_id}: {outside}",
        )
    return row


def _digest(payload: Any) -> str:
    return hashlib.sha256(_dumps(payload).encode()).hexdigest()


def _public_fields(item: CatalogItemDef | None, data: dict[str, Any]) -> dict[str, Any]:
    if item is None:
        return {}
    return {f.name: data.get(f.name) for f in item.fields if not f.sensitive}


def _recency(record: CreditRecord) -> tuple[dt.date, str, dt.datetime, int]:
    return (record.event_date or dt.date.min, record.report_month, record.loaded_at, record.id)


def verify(
    session: Session,
    services: Services,
    principal: Principal,
    *,
    agreement_id: str,
    purpose: str,
    identifier: str,
    item: str,
    field: str | None = None,
    value: Any = None,
) -> dict[str, Any]:
    """Yes/no only: does the subject have a visible record of ``item``, and, with a ``field``, does the
    subject's current record of it (the latest by event date, then by load) have ``field`` == ``value``?
    An older record that a newer one has replaced in fact (last year's rating) does not answer for it."""
    authorize_sharing(
        session,
        services,
        principal,
        agreement_id=agreement_id,
        mode="verification",
        purpose=purpose,
        items=[item],
    )
    subject = find_subject(session, services.keyring, identifier)
    catalog = _catalog(session)
    if field is not None and (
        item not in catalog or field not in {f.name for f in catalog[item].fields if not f.sensitive}
    ):
        raise InvalidInput(f"item {item} has no verifiable field {field!r}")
    records = visible_records(session, subject.id, item_codes=[item])
    if field is None:
        answer = bool(records)
    else:
        latest = max(records, key=_recency, default=None)
        answer = latest is not None and str(latest.data.get(field)) == str(value)
    result = {"agreement_id": agreement_id, "item": item, "field": field, "answer": answer}
    _event(
        session,
        principal,
        "verification",
        agreement_id=agreement_id,
        subject_id=subject.id,
        items=[item],
        outcome="answered",
        payload_sha256=_digest(result),
    )
    return result


def query(
    session: Session,
    services: Services,
    principal: Principal,
    *,
    agreement_id: str,
    purpose: str,
    identifier: str,
    items: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The subject's visible records of the agreed items (or the requested subset of them)."""
    row = session.get(SharingAgreement, agreement_id)
    wanted = list(items) if items else list(row.items if row else [])
    agreement = authorize_sharing(
        session, services, principal, agreement_id=agreement_id, mode="query", purpose=purpose, items=wanted
    )
    subject = find_subject(session, services.keyring, identifier)
    catalog = _catalog(session)
    records = visible_records(session, subject.id, item_codes=wanted)
    result = {
        "agreement_id": agreement.id,
        "subject": {"kind": subject.kind, "region": subject.region},
        "records": [
            {
                "item": r.item_code,
                "provider": r.provider_org_id,
                "provider_record_id": r.provider_record_id,
                "version": r.version,
                "event_date": r.event_date.isoformat() if r.event_date else None,
                "valid_until": r.valid_until.isoformat() if r.valid_until else None,
                "under_objection": r.under_objection,
                "fields": _public_fields(catalog.get(r.item_code), r.data),
            }
            for r in records
        ],
    }
    sha = _digest(result)
    _event(
        session,
        principal,
        "query",
        agreement_id=agreement.id,
        subject_id=subject.id,
        items=wanted,
        outcome="answered",
        payload_sha256=sha,
    )
    return {**result, "payload_sha256": sha}


EXPORT_COLUMNS = (
    "subject_identifier",
    "subject_kind",
    "region",
    "item",
    "provider",
    "provider_record_id",
    "version",
    "event_date",
    "valid_until",
    "fields_json",
)


def run_batch(
    session: Session, services: Services, principal: Principal, *, agreement_id: str, purpose: str
) -> SharingJob:
    """Produce the Parquet export of the agreed items for the agreed population, with its manifest."""
    agreement = authorize_sharing(
        session, services, principal, agreement_id=agreement_id, mode="batch", purpose=purpose, items=[]
    )
    pop = agreement.population or {}
    today = dt.date.today()
    q = (
        select(CreditRecord, Subject)
        .join(Subject, Subject.id == CreditRecord.subject_id)
        .where(CreditRecord.current.is_(True), CreditRecord.item_code.in_(agreement.items))
        .where((CreditRecord.valid_until.is_(None)) | (CreditRecord.valid_until >= today))
        .order_by(CreditRecord.id)
    )
    if pop.get("subject_kind"):
        q = q.where(Subject.kind == pop["subject_kind"])
    if pop.get("region_prefix"):
        q = q.where(Subject.region.startswith(str(pop["region_prefix"])))
    catalog = _catalog(session)
    cols: dict[str, list[Any]] = {c: [] for c in EXPORT_COLUMNS}
    for r, s in session.execute(q).yield_per(5000):
        cols["subject_identifier"].append(services.keyring.decrypt(s.code_enc, context=f"subject:{s.kind}"))
        cols["subject_kind"].append(s.kind)
        cols["region"].append(s.region)
        cols["item"].append(r.item_code)
        cols["provider"].append(r.provider_org_id)
        cols["provider_record_id"].append(r.provider_record_id)
        cols["version"].append(r.version)
        cols["event_date"].append(r.event_date)
        cols["valid_until"].append(r.valid_until)
        cols["fields_json"].append(_dumps(_public_fields(catalog.get(r.item_code), r.data)))
    table = pa.table(
        {
            **{
                c: pa.array(cols[c], pa.string())
                for c in EXPORT_COLUMNS
                if c not in ("version", "event_date", "valid_until")
            },
            "version": pa.array(cols["version"], pa.int32()),
            "event_date": pa.array(cols["event_date"], pa.date32()),
            "valid_until": pa.array(cols["valid_until"], pa.date32()),
        }
    ).select(list(EXPORT_COLUMNS))
    job_id = f"job_{uuid.uuid4().hex[:16]}"
    out_dir = services.settings.var_dir / "sharing"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{job_id}.parquet"
    pq.write_table(table, path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    now = utcnow()
    manifest = {
        "job_id": job_id,
        "agreement_id": agreement.id,
        "department": agreement.department_org_id,
        "purpose": agreement.purpose,
        "items": agreement.items,
        "population": pop,
        "as_of": today.isoformat(),
        "rows": table.num_rows,
        "columns": list(EXPORT_COLUMNS),
        "format": "parquet",
        "sha256": sha,
        "created_at": now.isoformat(),
    }
    job = SharingJob(
        id=job_id,
        agreement_id=agreement.id,
        requested_by=principal.account_id,
        status="done",
        finished_at=now,
        path=str(path),
        sha256=sha,
        rows=table.num_rows,
        manifest=manifest,
    )
    session.add(job)
    _event(
        session,
        principal,
        "batch",
        agreement_id=agreement.id,
        subject_id=None,
        items=agreement.items,
        outcome="answered",
        detail=f"job {job_id}: {table.num_rows} rows",
        payload_sha256=sha,
    )
    session.flush()
    return job


def get_job(session: Session, principal: Principal, job_id: str) -> SharingJob:
    job = session.get(SharingJob, job_id)
    if job is None:
        raise NotFound(f"no export job {job_id}")
    agreement = session.get(SharingAgreement, job.agreement_id)
    if agreement is None or agreement.department_org_id != principal.org_id:
        raise NotFound(f"no export job {job_id}")
    return job


def take_download(session: Session, principal: Principal, job_id: str) -> tuple[bytes, SharingJob]:
    """The export's bytes, once: the job is marked downloaded and the file removed in one step."""
    q = select(SharingJob).where(SharingJob.id == job_id)
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    job = session.scalar(q)
    if job is None:
        raise NotFound(f"no export job {job_id}")
    get_job(session, principal, job_id)
    if job.downloaded_at is not None or job.path is None:
        raise ExportGone(f"export {job_id} was downloaded at {job.downloaded_at}; run a new job")
    data = Path(job.path).read_bytes()
    job.downloaded_at, job.status = utcnow(), "downloaded"
    Path(job.path).unlink(missing_ok=True)
    session.flush()
    return data, job
