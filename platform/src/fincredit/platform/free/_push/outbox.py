"""The durable outbox of push events, one ordered sequence per subscription, and the polling feed
over it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fincredit.platform.core.db import utcnow
from fincredit.platform.free.tables import PushEvent, PushSubscription
from fincredit.platform.identity.principal import Principal

_dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode


def _next_seq(session: Session, subscription_id: str) -> int:
    top = session.scalar(
        select(func.max(PushEvent.subject_seq)).where(PushEvent.subscription_id == subscription_id)
    )
    return int(top or 0) + 1


def enqueue(
    session: Session, sub: PushSubscription, kind: str, data: dict[str, Any], *, status: str = "new"
) -> PushEvent:
    seq = _next_seq(session, sub.id)
    key = hashlib.sha256(f"{sub.id}:{seq}".encode()).hexdigest()[:40]
    payload = {
        "event": kind,
        "subscription_id": sub.id,
        "sequence": seq,
        "idempotency_key": key,
        "created_at": utcnow().isoformat(),
        "data": data,
    }
    event = PushEvent(
        subscription_id=sub.id,
        org_id=sub.org_id,
        subject_seq=seq,
        kind=kind,
        payload_json=_dumps(payload),
        idempotency_key=key,
        status=status,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    session.add(event)
    session.flush()
    return event


def active_subscriptions(session: Session, subject_ids: Sequence[int]) -> list[PushSubscription]:
    if not subject_ids:
        return []
    return list(
        session.scalars(
            select(PushSubscription)
            .where(PushSubscription.subject_id.in_(subject_ids), PushSubscription.status == "active")
            .order_by(PushSubscription.id)
        )
    )


def covers(sub: PushSubscription, item_code: str) -> bool:
    return sub.items is None or item_code in sub.items


def feed(
    session: Session, principal: Principal, *, after: int = 0, limit: int = 100
) -> tuple[list[dict[str, Any]], int]:
    """The polling feed: gated events of the organisation's subscriptions after the cursor."""
    rows = list(
        session.scalars(
            select(PushEvent)
            .where(
                PushEvent.org_id == (principal.org_id or principal.account_id),
                PushEvent.id > after,
                PushEvent.status.in_(("pending", "delivered")),
            )
            .order_by(PushEvent.id)
            .limit(limit)
        )
    )
    items = [{"cursor": r.id, "status": r.status, **json.loads(r.payload_json)} for r in rows]
    return items, rows[-1].id if rows else after
