"""What the platform brings to a joint job: its PSI input set (the subjects whose ACTIVE consent lets
this bank use these scopes for joint modelling) and its features for aligned or scored subjects, built
by ``fincredit.models.features`` from the platform's current records and its market data."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from fincredit.consent import AccessMode, AccessRequest, Purpose, decide
from fincredit.consent.identifiers import SubjectKind
from fincredit.models.errors import FeatureError
from fincredit.models.feature_views import (
    DEFAULT_VIEWS_PATH,
    FeatureViews,
    default_views,
    evaluate_views,
    load_views,
    validate_views,
)
from fincredit.models.features import enterprise_features
from fincredit.platform.catalog import default_catalog
from fincredit.platform.consents import library_subject, state_of
from fincredit.platform.consents.tables import Consent
from fincredit.platform.core.db import Subject, utcnow
from fincredit.platform.core.keyring import Keyring
from fincredit.platform.core.services import Services
from fincredit.platform.ingestion.tables import CreditRecord
from fincredit.platform.market import market_fields_for
from fincredit.platform.metered.joint_lab.errors import JointJobInvalid

__all__ = [
    "ConsentingSet",
    "consent_digest",
    "consenting_subjects",
    "feature_sources",
    "offered_views",
    "platform_feature_frame",
    "scopes_of",
    "subject_code",
]

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class ConsentingSet:
    """The platform's PSI input: subject codes (USCCs) and, per code, the subject id and the consent."""

    codes: list[str]
    subject_ids: dict[str, int]
    consent_ids: dict[str, str]


def subject_code(keyring: Keyring, subject: Subject) -> str:
    return keyring.decrypt(subject.code_enc, context=f"subject:{subject.kind}")


def consent_digest(consent_ids: Sequence[str]) -> str:
    """SHA-256 over the sorted consent ids: the lineage names which consents without listing them."""
    return hashlib.sha256("\n".join(sorted(set(consent_ids))).encode()).hexdigest()


def offered_views(var_dir: Path | None = None) -> FeatureViews:
    """The platform's feature views: the operator's ``{var_dir}/feature_views.toml`` when present, else
    the packaged definition. Validated against the catalog when (re)loaded: an invalid file is refused
    with every problem listed, never half used."""
    path = var_dir / "feature_views.toml" if var_dir is not None else None
    if path is None or not path.is_file():
        return _validated(DEFAULT_VIEWS_PATH, 0.0)
    return _validated(path, path.stat().st_mtime)


@lru_cache(maxsize=8)
def _validated(path: Path, _mtime: float) -> FeatureViews:
    views = default_views() if path == DEFAULT_VIEWS_PATH else load_views(path)
    problems = validate_views(views, default_catalog())
    if problems:
        raise FeatureError(f"feature views {path} are invalid: " + "; ".join(problems))
    return views


def scopes_of(features: Sequence[str], views: FeatureViews | None = None) -> tuple[list[str], list[str]]:
    """The catalog items and market datasets ``features`` are computed from: a job that names no scopes
    asks for exactly these."""
    views = views or offered_views()
    offered = views.sources()
    unknown = [f for f in features if f not in offered]
    if unknown:
        raise JointJobInvalid(f"unknown platform features {unknown}", field="platform_features")
    sources = sorted({s for f in features for s in offered[f]})
    datasets = {d.code for d in default_catalog().market_datasets}
    return [s for s in sources if s not in datasets], [s for s in sources if s in datasets]


def feature_sources(
    features: Sequence[str],
    catalog_items: Sequence[str],
    datasets: Sequence[str],
    views: FeatureViews | None = None,
) -> None:
    """Every requested feature must be offered and computed only from the requested scopes."""
    offered = (views or offered_views()).sources()
    unknown = [f for f in features if f not in offered]
    if unknown:
        raise JointJobInvalid(
            f"unknown platform features {unknown}; GET /api/v1/joint-lab/features lists the offered ones",
            field="platform_features",
        )
    allowed = set(catalog_items) | set(datasets)
    outside = {f: list(offered[f]) for f in features if not set(offered[f]) <= allowed}
    if outside:
        raise JointJobInvalid(
            f"features need scopes the job does not request: {outside}", field="platform_features"
        )


def consenting_subjects(
    session: Session,
    services: Services,
    *,
    org_id: str,
    account_id: str,
    scopes: Sequence[str],
    now: dt.datetime | None = None,
) -> ConsentingSet:
    """Subjects with an ACTIVE joint-modelling consent of ``org_id`` that covers ``scopes`` and mode
    model_training now, decided by the consent library exactly as :func:`authorize_access` decides.

    Nothing is used or ledgered here: the ledger entry is written per ALIGNED subject, once the PSI
    has found who is in the intersection."""
    now = now or utcnow()
    rows = session.scalars(
        select(Consent)
        .where(
            Consent.grantee_org_id == org_id,
            Consent.purpose == Purpose.JOINT_MODELLING.value,
            Consent.valid_until > now,
        )
        .order_by(Consent.subject_id, Consent.id)
    )
    by_subject: dict[int, list[Consent]] = defaultdict(list)
    for row in rows:
        by_subject[row.subject_id].append(row)
    codes: list[str] = []
    subject_ids: dict[str, int] = {}
    consent_ids: dict[str, str] = {}
    ids = sorted(by_subject)
    for i in range(0, len(ids), _CHUNK):
        for subject in session.scalars(select(Subject).where(Subject.id.in_(ids[i : i + _CHUNK]))):
            if subject.kind != SubjectKind.LEGAL.value:
                continue  # joint models are enterprise models, keyed by USCC
            request = AccessRequest(
                grantee=org_id,
                subject=library_subject(services.keyring, subject),
                scopes=frozenset(scopes),
                purpose=Purpose.JOINT_MODELLING,
                mode=AccessMode.MODEL_TRAINING,
                account=account_id,
            )
            states = [state_of(services.keyring, r) for r in by_subject[subject.id]]
            decision = decide(states, request, now)
            if not decision.allowed:
                continue
            code = subject_code(services.keyring, subject)
            codes.append(code)
            subject_ids[code] = subject.id
            consent_ids[code] = str(getattr(decision, "consent_id", "") or "")
    return ConsentingSet(codes, subject_ids, consent_ids)


def _records_table(item: str, rows: list[tuple[str, dict[str, object]]]) -> pa.Table:
    schema = default_catalog().item(item).arrow_schema()
    columns: dict[str, pa.Array] = {}
    for fld in schema:
        if fld.name == "subject_id":
            columns["subject_id"] = pa.array([code for code, _ in rows], pa.string())
            continue
        raw = pa.array([data.get(fld.name) for _, data in rows])
        if pa.types.is_null(raw.type):
            columns[fld.name] = pa.nulls(len(rows), fld.type)
        else:
            try:
                columns[fld.name] = pc.cast(raw, fld.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                columns[fld.name] = pc.cast(pc.cast(raw, pa.string()), fld.type)
    return pa.table(columns)


def platform_feature_frame(
    session: Session,
    services: Services,
    *,
    subjects: Sequence[tuple[int, str]],
    features: Sequence[str],
    catalog_items: Sequence[str],
    market_datasets: Sequence[str],
    purpose: str,
    as_of: dt.date | None = None,
) -> pd.DataFrame:
    """The platform's ``features`` for ``subjects`` (subject id, USCC) in that order, NaN where a
    subject has no records. Records are the current, still-valid versions; market fields are served
    only under a contract allowing ``purpose`` (``market_fields_for`` refuses otherwise)."""
    as_of = as_of or dt.date.today()
    code_of = {sid: code for sid, code in subjects}
    ids = list(code_of)
    records: dict[str, pa.Table] = {}
    for item in catalog_items:
        rows: list[tuple[str, dict[str, object]]] = []
        for i in range(0, len(ids), _CHUNK):
            q = select(CreditRecord.subject_id, CreditRecord.data).where(
                CreditRecord.subject_id.in_(ids[i : i + _CHUNK]),
                CreditRecord.item_code == item,
                CreditRecord.current.is_(True),
                or_(CreditRecord.valid_until.is_(None), CreditRecord.valid_until >= as_of),
            )
            rows.extend((code_of[sid], dict(data)) for sid, data in session.execute(q))
        if rows:
            records[item] = _records_table(item, rows)
    market: dict[str, pa.Table] = {}
    for dataset in market_datasets:
        fields = market_fields_for(
            session, dataset, ids, purpose, var_dir=services.settings.var_dir, fields=None
        )
        market[dataset] = fields.table
    codes = [code for _, code in subjects]
    views = offered_views(services.settings.var_dir)
    wanted = [views.get(f) for f in features]
    declarative = [v for v in wanted if v.declarative]
    parts: list[pd.DataFrame] = []
    if len(declarative) < len(wanted):
        parts.append(enterprise_features(records, market, as_of=as_of, enterprises=codes))
    if declarative:
        catalog = default_catalog()
        event_date = {i.code: i.event_date_field for i in catalog.items}
        parts.append(
            evaluate_views(
                declarative, {**records, **market}, as_of=as_of, enterprises=codes, event_date=event_date
            )
        )
    frame = pd.concat(parts, axis=1) if len(parts) > 1 else parts[0]
    return frame[list(features)].astype(np.float64)
