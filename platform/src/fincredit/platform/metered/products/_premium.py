"""Premium datasets (G§14): rows of purchased market data served to a bank, only for a purpose the
vendor contract allows (and, since the values leave the platform, only under a resale right), only for
enterprises whose consent covers the dataset; billed per row served."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from fincredit.platform.consents import authorize_access, check_access
from fincredit.platform.core.db import Subject
from fincredit.platform.core.errors import InvalidInput, NotFound
from fincredit.platform.core.services import Services
from fincredit.platform.identity.principal import Principal
from fincredit.platform.market import PROVENANCE_COLUMNS, SUBJECT_CODE, market_fields_for
from fincredit.platform.metered.billing import Usage, ensure_allowed, record_usage
from fincredit.platform.subjects import find_subject

PRODUCT = "market.premium_dataset"
ROUTE = "/api/v1/market-products/premium-datasets"


def market_scope(dataset: str) -> str:
    """The consent scope of a purchased market dataset."""
    return f"market:{dataset}"


@dataclass(frozen=True, slots=True)
class PremiumRows:
    dataset: str
    version: int
    contract_id: str | None
    rows: list[dict[str, Any]]
    refused: list[dict[str, Any]]
    usage_event_id: str


def premium_rows(
    session: Session,
    services: Services,
    principal: Principal,
    dataset: str,
    identifiers: list[str],
    *,
    purpose: str,
    fields: list[str] | None = None,
    idempotency_key: str | None = None,
    at: dt.datetime | None = None,
) -> PremiumRows:
    if principal.org_id is None:
        raise InvalidInput("only an institution buys premium data")
    if not identifiers or len(identifiers) > 1000:
        raise InvalidInput("ask for between 1 and 1000 enterprises per call")
    allowed_subjects: list[Subject] = []
    refused: list[dict[str, Any]] = []
    for ident in dict.fromkeys(identifiers):
        try:
            subject = find_subject(session, services.keyring, ident)
        except NotFound:
            refused.append({"identifier": ident, "reason": "unknown-subject"})
            continue
        decision = check_access(
            session,
            services,
            principal=principal,
            subject=subject,
            scopes=[market_scope(dataset)],
            purpose=purpose,
            mode="query",
        )
        if decision.allowed:
            allowed_subjects.append(subject)
        else:
            refused.append({"identifier": ident, "reason": str(getattr(decision, "reason", "refused"))})
    # The contract is checked first (raises MarketUseRefused): no contract, no purpose, no resale right.
    served = market_fields_for(
        session,
        dataset,
        [s.id for s in allowed_subjects],
        purpose,
        at,
        var_dir=services.settings.var_dir,
        fields=fields,
        disclose=True,
    )
    table = served.table.drop_columns([c for c in ("prov_subject_id",) if c in served.table.column_names])
    rows = table.to_pylist()
    ensure_allowed(session, principal.org_id, PRODUCT, max(len(rows), 1), at=at)
    by_subject: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_subject.setdefault(str(row.get(SUBJECT_CODE)), []).append(row)
    for subject in allowed_subjects:
        code = services.keyring.decrypt(subject.code_enc, context=f"subject:{subject.kind}")
        if code in by_subject:
            authorize_access(
                session,
                services,
                principal=principal,
                subject=subject,
                scopes=[market_scope(dataset)],
                purpose=purpose,
                mode="query",
                route=f"{ROUTE}/{dataset}",
            )
    usage_id = idempotency_key or uuid.uuid4().hex
    if rows:
        record_usage(
            session,
            Usage(
                product=PRODUCT,
                org_id=principal.org_id,
                quantity=Decimal(len(rows)),
                id=usage_id,
                source="fincredit.platform/market-products",
                data={"dataset": dataset, "version": served.version, "rows": len(rows)},
                **({"time": at} if at else {}),
            ),
        )
    for row in rows:
        for col in PROVENANCE_COLUMNS:
            if isinstance(row.get(col), dt.datetime | dt.date):
                row[col] = row[col].isoformat()
        for key, value in list(row.items()):
            if isinstance(value, dt.date):
                row[key] = value.isoformat()
    return PremiumRows(
        dataset,
        served.version,
        served.decision.contract.id if served.decision.contract else None,
        rows,
        refused,
        usage_id,
    )
