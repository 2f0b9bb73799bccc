"""The consent gate every push event passes before it may leave: the disclosure is ledgered with the
digest of the exact body that will be sent, or the refusal is ledgered and the event dropped."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from fincredit.platform.consents import authorize_access
from fincredit.platform.core.errors import ConsentRefused
from fincredit.platform.core.services import Services
from fincredit.platform.free._catalog import catalog_items, item_scope
from fincredit.platform.free._push.subscriptions import MODE
from fincredit.platform.free.tables import PushEvent, PushSubscription
from fincredit.platform.identity.principal import Principal


def _bank(sub: PushSubscription) -> Principal:
    return Principal(
        account_id=sub.account_id,
        account_kind="institution",
        org_id=sub.org_id,
        org_kind="bank",
        domain=sub.org_id,
    )


def prepare_new(services: Services, *, limit: int = 500) -> tuple[int, int]:
    """Pass ``new`` events through the gate, each in its own transaction; returns (allowed, refused)."""
    with services.read() as session:
        ids = list(
            session.scalars(
                select(PushEvent.id).where(PushEvent.status == "new").order_by(PushEvent.id).limit(limit)
            )
        )
    ok = refused = 0
    for event_id in ids:
        try:
            with services.tx() as session:
                event = session.get(PushEvent, event_id)
                if event is None or event.status != "new":
                    continue
                sub = session.get(PushSubscription, event.subscription_id)
                assert sub is not None
                payload = json.loads(event.payload_json)
                item = payload["data"].get("item") or payload["data"].get("item_code")
                allowed = authorize_access(
                    session,
                    services,
                    principal=_bank(sub),
                    subject=sub.subject_id,
                    scopes=[item_scope(item)] if item else scopes_for_sub(session, sub),
                    purpose=sub.purpose,
                    mode=MODE,
                    route=f"push:{sub.id}",
                    payload_digest=hashlib.sha256(event.payload_json.encode()).hexdigest(),
                )
                event.status, event.ledger_seq = "pending", allowed.ledger_seq
                ok += 1
        except ConsentRefused as exc:
            refused += 1
            with services.tx() as session:
                event = session.get(PushEvent, event_id)
                if event is not None and event.status == "new":
                    event.status, event.last_error = "dropped", f"refused: {exc.extensions.get('reason')}"
    return ok, refused


def scopes_for_sub(session: Session, sub: PushSubscription) -> list[str]:
    codes = sub.items or sorted(c for c, i in catalog_items(session).items() if i.disclosure != "public")
    return [item_scope(c) for c in codes]
