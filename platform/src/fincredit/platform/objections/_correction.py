"""Correcting a disputed record: a new version replaces it, the old one is kept as superseded."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fincredit.platform.core.errors import InvalidInput
from fincredit.platform.core.keyring import Keyring
from fincredit.platform.ingestion import sensitive_fields
from fincredit.platform.ingestion.tables import CreditRecord

_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def content_hash(subject_id: int, data: Mapping[str, Any], secret_json: str) -> str:
    """The loader's change detector (``ingestion._load.stage_rows``): the same record re-submitted
    after a correction hashes the same, so it loads as unchanged instead of as yet another version."""
    encoded = _COMPACT_JSON(dict(data))
    return hashlib.sha256(f"{subject_id}\x1f{encoded}\x1f{secret_json}".encode()).hexdigest()


def correct_record(
    session: Session,
    record: CreditRecord,
    corrected: Mapping[str, Any],
    *,
    at: dt.datetime,
    keyring: Keyring | None = None,
) -> CreditRecord:
    """A new version of ``record`` with ``corrected`` fields changed; the old version is kept, marked
    superseded (the same versioning rule the loader applies to a changed submission). Only public
    fields are corrected here; ``keyring`` is needed to hash a record that also has sensitive fields."""
    current = session.scalar(
        select(CreditRecord).where(
            CreditRecord.provider_org_id == record.provider_org_id,
            CreditRecord.item_code == record.item_code,
            CreditRecord.provider_record_id == record.provider_record_id,
            CreditRecord.current.is_(True),
        )
    )
    base = current or record
    unknown = sorted(set(corrected) - set(base.data or {}))
    if unknown:
        raise InvalidInput(f"the record has no fields {unknown}", fields=unknown)
    data = {**(base.data or {}), **corrected}
    if data == base.data:
        raise InvalidInput("the correction changes nothing; confirm the record instead")
    secret_json = ""
    if base.sensitive_enc is not None:
        if keyring is None:
            raise ValueError("a record with sensitive fields needs the keyring to be re-hashed")
        secret_json = _COMPACT_JSON(sensitive_fields(keyring, base))
    top = session.scalar(
        select(func.max(CreditRecord.version)).where(
            CreditRecord.provider_org_id == record.provider_org_id,
            CreditRecord.item_code == record.item_code,
            CreditRecord.provider_record_id == record.provider_record_id,
        )
    )
    base.current = False
    base.superseded_at = at
    session.flush()
    new = CreditRecord(
        subject_id=base.subject_id,
        subject_kind=base.subject_kind,
        item_code=base.item_code,
        provider_org_id=base.provider_org_id,
        provider_record_id=base.provider_record_id,
        version=(top or base.version) + 1,
        current=True,
        report_month=base.report_month,
        data=data,
        sensitive_enc=base.sensitive_enc,
        content_hash=content_hash(base.subject_id, data, secret_json),
        event_date=base.event_date,
        valid_until=base.valid_until,
        negative=base.negative,
        # A correction is not a new submission: the version stays tied to the submission it corrects.
        submission_id=base.submission_id,
        catalog_version_id=base.catalog_version_id,
        loaded_at=at,
        under_objection=False,
    )
    session.add(new)
    session.flush()
    return new
