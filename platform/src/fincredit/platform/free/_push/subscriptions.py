"""Subscriptions: a bank watches one subject under a consent for ``push_subscription``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import update
from sqlalchemy.orm import Session

from fincredit.platform.consents import authorize_access
from fincredit.platform.core.db import utcnow
from fincredit.platform.core.errors import NotFound
from fincredit.platform.core.services import Services
from fincredit.platform.free._push.outbox import enqueue
from fincredit.platform.free._query import ItemRequest, resolve_items, scopes_for
from fincredit.platform.free.errors import SubscriptionEnded, WebhookUrlInvalid
from fincredit.platform.free.tables import PushEvent, PushSubscription
from fincredit.platform.identity.principal import Principal
from fincredit.platform.subjects import find_subject

PURPOSE = "post_loan_monitoring"
MODE = "push_subscription"


def check_webhook_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise WebhookUrlInvalid("a webhook URL is http:// or https://, with a host and no credentials")
    return url


def subscribe(
    session: Session,
    services: Services,
    *,
    principal: Principal,
    identifier: str,
    webhook_url: str | None,
    items: Sequence[str] | None = None,
    purpose: str = PURPOSE,
) -> PushSubscription:
    """Subscribe under a consent for ``push_subscription`` (the gate checks it and ledgers the access)."""
    if webhook_url is not None:
        check_webhook_url(webhook_url)
    subject = find_subject(session, services.keyring, identifier)
    wanted = resolve_items(session, subject, None if items is None else [ItemRequest(c) for c in items])
    allowed = authorize_access(
        session,
        services,
        principal=principal,
        subject=subject,
        scopes=scopes_for(wanted),
        purpose=purpose,
        mode=MODE,
        route="/api/v1/free/push/subscriptions",
    )
    sub = PushSubscription(
        id=f"sub_{uuid.uuid4().hex[:20]}",
        org_id=principal.org_id or principal.account_id,
        account_id=principal.account_id,
        subject_id=subject.id,
        consent_id=allowed.consent_id or "",
        purpose=purpose,
        items=None if items is None else sorted({i.code for i, _ in wanted}),
        webhook_url=webhook_url,
        status="active",
    )
    session.add(sub)
    session.flush()
    return sub


def end_subscription(session: Session, sub: PushSubscription, reason: str) -> int:
    """End ``sub`` and drop its undelivered events; returns how many were dropped."""
    now = utcnow()
    sub.status, sub.ended_at, sub.ended_reason = "ended", now, reason
    dropped = session.execute(  # type: ignore[attr-defined]
        update(PushEvent)
        .where(PushEvent.subscription_id == sub.id, PushEvent.status.in_(("new", "pending")))
        .values(status="dropped", last_error=f"consent ended ({reason})"[:300])
    ).rowcount
    enqueue(session, sub, "consent_ended", {"reason": reason, "consent_id": sub.consent_id}, status="pending")
    return int(dropped or 0)


def cancel(session: Session, principal: Principal, subscription_id: str) -> PushSubscription:
    sub = get_subscription(session, principal, subscription_id)
    if sub.status != "active":
        raise SubscriptionEnded(f"subscription {sub.id} ended already")
    end_subscription(session, sub, "cancelled")
    return sub


def get_subscription(session: Session, principal: Principal, subscription_id: str) -> PushSubscription:
    sub = session.get(PushSubscription, subscription_id)
    if sub is None or sub.org_id != (principal.org_id or principal.account_id):
        raise NotFound(f"your organisation has no subscription {subscription_id}")
    return sub


def subscription_view(sub: PushSubscription) -> dict[str, Any]:
    return {
        "id": sub.id,
        "subject_id": sub.subject_id,
        "consent_id": sub.consent_id,
        "purpose": sub.purpose,
        "items": sub.items,
        "webhook_url": sub.webhook_url,
        "status": sub.status,
        "created_at": sub.created_at,
        "ended_at": sub.ended_at,
        "ended_reason": sub.ended_reason,
    }
