"""The platform's score features for a few subjects, from their current records and, where a vendor
contract allows the purpose, the purchased market data (``fincredit.models.features``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from fincredit.models.features import FEATURE_SOURCES, MARKET_FEATURES, enterprise_features
from fincredit.platform.catalog import default_catalog
from fincredit.platform.core.errors import MarketUseRefused, NotFound
from fincredit.platform.core.services import Services
from fincredit.platform.ingestion.tables import CreditRecord
from fincredit.platform.market import market_fields_for

MARKET_DATASETS: tuple[str, ...] = tuple(sorted({s for f in MARKET_FEATURES for s in FEATURE_SOURCES[f]}))
CATALOG_ITEMS: tuple[str, ...] = tuple(
    sorted({s for srcs in FEATURE_SOURCES.values() for s in srcs} - set(MARKET_DATASETS))
)


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


def feature_frame(
    session: Session,
    services: Services,
    subjects: Sequence[tuple[int, str]],
    *,
    purpose: str,
    market_datasets: Sequence[str],
    as_of: dt.date | None = None,
) -> tuple[pd.DataFrame, list[tuple[str, int]]]:
    """Features of ``subjects`` (subject id, USCC) indexed by USCC, and the market dataset versions used
    (a dataset whose contract does not allow ``purpose`` contributes nothing: its features stay NaN)."""
    as_of = as_of or dt.date.today()
    code_of = dict(subjects)
    ids = list(code_of)
    records: dict[str, pa.Table] = {}
    for item in CATALOG_ITEMS:
        q = select(CreditRecord.subject_id, CreditRecord.data).where(
            CreditRecord.subject_id.in_(ids),
            CreditRecord.item_code == item,
            CreditRecord.current.is_(True),
            or_(CreditRecord.valid_until.is_(None), CreditRecord.valid_until >= as_of),
        )
        rows = [(code_of[sid], dict(data)) for sid, data in session.execute(q)]
        if rows:
            records[item] = _records_table(item, rows)
    market: dict[str, pa.Table] = {}
    used: list[tuple[str, int]] = []
    for dataset in market_datasets:
        try:
            fields = market_fields_for(session, dataset, ids, purpose, var_dir=services.settings.var_dir)
        except (MarketUseRefused, NotFound):
            continue
        market[dataset] = fields.table
        used.append((dataset, fields.version))
    frame = enterprise_features(records, market, as_of=as_of, enterprises=[c for _, c in subjects])
    return frame, used
