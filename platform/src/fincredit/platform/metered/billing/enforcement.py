"""Quota and credit-limit checks before the work, and usage recording in the same transaction as the
work: a call that fails rolls back its usage event with everything else, so it is never billed; a call
that succeeds commits both together, so it is always billed."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from fincredit.platform.core.db import utcnow
from fincredit.platform.core.errors import Forbidden, NotFound, PaymentRequired, QuotaExceeded
from fincredit.platform.metered.billing.pricing import charge_for, marginal_charge, price_for
from fincredit.platform.metered.billing.tables import CreditLimit, Entitlement, Meter, UsageEvent


@dataclass(frozen=True, slots=True)
class Usage:
    product: str
    org_id: str
    quantity: Decimal
    source: str = "fincredit.platform"
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    time: dt.datetime = field(default_factory=utcnow)
    data: dict[str, Any] = field(default_factory=dict)


def _month_start(at: dt.datetime) -> dt.datetime:
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(start: dt.datetime) -> dt.datetime:
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


def month_to_date(session: Session, org_id: str, product: str | None, at: dt.datetime) -> Decimal:
    start = _month_start(at)
    q = select(func.coalesce(func.sum(UsageEvent.quantity), 0)).where(
        UsageEvent.org_id == org_id, UsageEvent.time >= start, UsageEvent.time < _next_month(start)
    )
    if product is not None:
        q = q.where(UsageEvent.product == product)
    return Decimal(session.scalar(q) or 0)


def spent_this_month(session: Session, org_id: str, at: dt.datetime) -> Decimal:
    start = _month_start(at)
    rows = session.execute(
        select(UsageEvent.product, func.sum(UsageEvent.quantity))
        .where(UsageEvent.org_id == org_id, UsageEvent.time >= start, UsageEvent.time < _next_month(start))
        .group_by(UsageEvent.product)
    ).all()
    return sum((charge_for(price_for(session, p, at.date()), Decimal(q)) for p, q in rows), Decimal(0))


def ensure_allowed(
    session: Session, org_id: str, product: str, quantity: Decimal | int, *, at: dt.datetime | None = None
) -> None:
    """Refuse before any work: no entitlement (403), quota (429) or credit limit (402) exceeded."""
    at = at or utcnow()
    quantity = Decimal(quantity)
    if session.get(Meter, product) is None:
        raise NotFound(f"no metered product {product!r}")
    query = select(Entitlement).where(Entitlement.org_id == org_id, Entitlement.product == product)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()  # serialise concurrent calls of one institution on one quota
    entitlement = session.scalar(query)
    if entitlement is None or not entitlement.enabled:
        raise Forbidden(f"your institution is not entitled to {product}", product=product)
    used = month_to_date(session, org_id, product, at)
    if entitlement.monthly_quota is not None and used + quantity > entitlement.monthly_quota:
        raise QuotaExceeded(
            f"monthly quota of {product} exhausted: {used} of {entitlement.monthly_quota} used, "
            f"{quantity} requested",
            quota=f"{product}:monthly",
            used=str(used),
            limit=str(entitlement.monthly_quota),
            retry_after=int((_next_month(_month_start(at)) - at).total_seconds()),
        )
    limit = session.get(CreditLimit, org_id)
    if limit is not None:
        spent = spent_this_month(session, org_id, at)
        extra = marginal_charge(price_for(session, product, at.date()), used, quantity)
        if spent + extra > limit.monthly_limit:
            raise PaymentRequired(
                f"this call would cost {extra:.2f} CNY and pass the monthly credit limit "
                f"({spent:.2f} of {limit.monthly_limit:.2f} CNY used)",
                quota="credit_limit:monthly",
                spent=str(spent),
                limit=str(limit.monthly_limit),
            )


def record_usage(session: Session, usage: Usage) -> bool:
    """Insert the usage event unless (source, id) was seen before. Returns True if it was new."""
    meter = session.get(Meter, usage.product)
    if meter is None:
        raise NotFound(f"no metered product {usage.product!r}")
    values = {
        "source": usage.source,
        "id": usage.id,
        "type": meter.event_type,
        "product": usage.product,
        "org_id": usage.org_id,
        "time": usage.time,
        "quantity": Decimal(usage.quantity),
        "data": usage.data,
        "recorded_at": utcnow(),
    }
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # RETURNING, not rowcount: DB-API drivers do not report rowcount reliably for INSERT ... ON CONFLICT.
    stmt = (
        insert(UsageEvent)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["source", "id"])
        .returning(UsageEvent.id)
    )
    return session.execute(stmt).first() is not None


def record_usages(session: Session, usages: list[Usage]) -> int:
    """Batched idempotent insert; returns how many were new."""
    if not usages:
        return 0
    event_types = {m.product: m.event_type for m in session.scalars(select(Meter))}
    now = utcnow()
    rows = []
    for u in usages:
        if u.product not in event_types:
            raise NotFound(f"no metered product {u.product!r}")
        rows.append(
            {
                "source": u.source,
                "id": u.id,
                "type": event_types[u.product],
                "product": u.product,
                "org_id": u.org_id,
                "time": u.time,
                "quantity": Decimal(u.quantity),
                "data": u.data,
                "recorded_at": now,
            }
        )
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return _record_unnest(session, rows)
    stmt = (
        sqlite_insert(UsageEvent)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["source", "id"])
        .returning(UsageEvent.id)
    )
    return len(session.execute(stmt).all())


_UNNEST_SQL = text(
    "INSERT INTO usage_events (source, id, type, product, org_id, time, quantity, data, recorded_at) "
    "SELECT * FROM unnest(CAST(:source AS varchar[]), CAST(:id AS varchar[]), CAST(:type AS varchar[]), "
    "CAST(:product AS varchar[]), CAST(:org_id AS varchar[]), CAST(:time AS timestamptz[]), "
    "CAST(:quantity AS numeric[]), CAST(:data AS json[]), CAST(:recorded_at AS timestamptz[])) "
    "ON CONFLICT (source, id) DO NOTHING RETURNING id"
)


def _record_unnest(session: Session, rows: list[dict[str, Any]]) -> int:
    """PostgreSQL: one statement with nine array parameters instead of nine parameters a row — the
    server parses one small statement, and a batch is not bounded by the 65,535-parameter limit."""
    columns = ("source", "id", "type", "product", "org_id", "time", "quantity", "recorded_at")
    params: dict[str, Any] = {c: [r[c] for r in rows] for c in columns}
    params["data"] = [json.dumps(r["data"], ensure_ascii=False) for r in rows]
    return len(session.execute(_UNNEST_SQL, params).all())
