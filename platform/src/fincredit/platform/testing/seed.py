"""Helpers for tests, the demo and the benchmark of the free services: subjects with records loaded
through the real ingestion pipeline, and consents recorded through the consent lifecycle as a subject
grants them outside the web pages, each with its ledger entries (the HTTP lifecycle has its own tests)."""

from __future__ import annotations

import csv
import datetime as dt
import random
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from fincredit.consent import (
    AccessMode,
    ApprovalChannel,
    ConsentArtefact,
    DataLife,
    DataLifeUnit,
    FetchType,
    Frequency,
    PeriodUnit,
    Purpose,
)
from fincredit.consent.identifiers import generate_uscc
from fincredit.platform.catalog import get_item
from fincredit.platform.consents import RecordedGrant, library_subject, record_grants
from fincredit.platform.core.db import Subject, utcnow
from fincredit.platform.core.services import Services
from fincredit.platform.ingestion import IngestResult, ingest_file
from fincredit.platform.subjects import find_subject, register_subject, subject_name


def new_enterprise(services: Services, region: str = "330203", name: str | None = None) -> tuple[str, int]:
    """A registered legal-person subject: (USCC, subject id)."""
    code = generate_uscc(random.Random(uuid.uuid4().int), region)
    with services.tx() as session:
        row = register_subject(
            session, services.keyring, code, name or f"宁波{uuid.uuid4().hex[:6]}科技有限公司"
        )
        return code, row.id


def load_records(
    services: Services,
    item_code: str,
    identifier: str,
    rows: Iterable[Mapping[str, Any]],
    *,
    name: str | None = None,
    month: str | None = None,
) -> IngestResult:
    """Load ``rows`` (the item's fields plus ``provider_record_id``) for one subject through the real
    pipeline, as the item's provider."""
    with services.read() as session:
        item = get_item(session, item_code)
        if name is None:
            name = subject_name(
                session, services.keyring, find_subject(session, services.keyring, identifier)
            )
    now = utcnow()
    month = month or f"{now.year:04d}-{now.month:02d}"
    names = [f.name for f in item.all_fields]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{item_code}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=names)
            w.writeheader()
            for r in rows:
                w.writerow(
                    {
                        "subject_id": identifier,
                        "subject_name": name,
                        "report_month": month,
                        **{k: "" if v is None else v for k, v in r.items()},
                    }
                )
        return ingest_file(
            services, provider_org_id=item.provider_org_id, item_code=item_code, month=month, path=path
        )


def grant_consent(
    services: Services,
    subject_id: int,
    grantee: str,
    *,
    purpose: str = "loan_application_assessment",
    scopes: Iterable[str] = ("tax_rating", "admin_penalty", "market_registration"),
    modes: Iterable[str] = ("query", "report"),
    fetch: FetchType = FetchType.PERIODIC,
    frequency: int = 1000,
    valid_until: dt.datetime | None = None,
    granted: bool = True,
) -> str:
    now = utcnow()
    start = now - dt.timedelta(days=2)
    with services.tx() as session:
        subject = session.get(Subject, subject_id)
        assert subject is not None
        artefact = ConsentArtefact(
            subject=library_subject(services.keyring, subject),
            grantee=grantee,
            purpose=Purpose(purpose),
            scopes=frozenset(scopes),
            modes=frozenset(AccessMode(m) for m in modes),
            valid_from=start,
            valid_until=valid_until or now + dt.timedelta(days=30),
            fetch_type=fetch,
            frequency=Frequency(value=frequency, unit=PeriodUnit.DAY)
            if fetch is FetchType.PERIODIC
            else None,
            data_life=DataLife(value=1, unit=DataLifeUnit.YEAR),
            created_at=start,
        )
        approver = "acc_test" if granted else None
        grant = RecordedGrant(subject_id, artefact, approver, start, ApprovalChannel.WEB.value)
        record_grants(session, services, [grant], actor="platform-seed")
        return artefact.consent_id
