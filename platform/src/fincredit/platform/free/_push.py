"""Information push (post-loan monitoring): subscriptions, a durable outbox, signed webhooks, a feed.

Events
    ``record_new`` / ``record_changed`` (a provider's file loaded a new version of a record about the
    subject: hook ``ingestion.on_records_loaded``), ``record_under_objection`` / ``record_corrected`` /
    ``record_confirmed`` (the objections outbox, consumed here; subscribed banks are added to the
    objection recipients), and ``consent_ended`` (hook ``consents.on_consent_ended``).

Life of an event (``push_events.status``)
    ``new`` — written in the transaction that caused it, with no consent check (a refusal there would
    roll back a provider's load). ``pending`` — :func:`prepare_new` passed it through the one gate
    (:func:`authorize_access`, purpose and mode ``push_subscription`` of the subscription) in its own
    transaction: the disclosure is ledgered with the SHA-256 of the exact body that will be sent; a
    refusal is ledgered and the event becomes ``dropped``. ``delivered`` — the webhook answered 2xx.

Ending the consent stops pushes at once: the transaction that revokes (or expires, or exhausts) the
consent ends its subscriptions and marks every undelivered event ``dropped`` (they are not held for a
later consent: what the bank did not receive under the consent it never receives), then queues one
``consent_ended`` notice, which carries no subject data. The webhook worker delivers an event only
while holding the subscription row (PostgreSQL ``FOR UPDATE``), so a revocation waits for an
in-flight delivery and no delivery starts after it.

Delivery: at-least-once, in order per subscription (one subscription = one bank and one subject): only
the lowest undelivered ``subject_seq`` of a subscription is ever attempted, so event n+1 never leaves
before n is acknowledged; a failure is retried after ``BASE_DELAY * 2**(attempts-1)`` seconds (capped at
``MAX_DELAY``). Receivers deduplicate on the ``Idempotency-Key`` header.

Signature (verify with the platform's Ed25519 public key, ``GET /api/v1/free/push/public-key``)::

    Fincredit-Timestamp: <unix seconds>
    Fincredit-Signature: ed25519=<base64 of the signature over  timestamp + "." + raw body bytes>

Receivers reject a timestamp more than a few minutes old (replay) and check the signature over the
raw bytes before parsing the JSON (:func:`verify_webhook` is the reference implementation).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, object_session

from fincredit.platform.consents import authorize_access, on_consent_ended
from fincredit.platform.consents.tables import Consent
from fincredit.platform.core.db import utcnow
from fincredit.platform.core.errors import ConsentRefused, NotFound
from fincredit.platform.core.services import Services
from fincredit.platform.free._catalog import catalog_items, item_scope
from fincredit.platform.free._query import ItemRequest, resolve_items, scopes_for
from fincredit.platform.free.errors import SubscriptionEnded, WebhookUrlInvalid
from fincredit.platform.free.tables import PushEvent, PushSubscription
from fincredit.platform.identity.principal import Principal
from fincredit.platform.ingestion import on_records_loaded
from fincredit.platform.ingestion.tables import CreditRecord
from fincredit.platform.objections import add_recipients_resolver
from fincredit.platform.objections.tables import Objection, ObjectionOutbox
from fincredit.platform.subjects import find_subject

log = logging.getLogger("fincredit.push")
PURPOSE = "post_loan_monitoring"
MODE = "push_subscription"
BASE_DELAY = 2.0
MAX_DELAY = 3600.0
TIMEOUT = 5.0
_dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode


def check_webhook_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise WebhookUrlInvalid("a webhook URL is http:// or https://, with a host and no credentials")
    return url


def _bank(sub: PushSubscription) -> Principal:
    return Principal(
        account_id=sub.account_id,
        account_kind="institution",
        org_id=sub.org_id,
        org_kind="bank",
        domain=sub.org_id,
    )


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
    _enqueue(
        session, sub, "consent_ended", {"reason": reason, "consent_id": sub.consent_id}, status="pending"
    )
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


def _next_seq(session: Session, subscription_id: str) -> int:
    top = session.scalar(
        select(func.max(PushEvent.subject_seq)).where(PushEvent.subscription_id == subscription_id)
    )
    return int(top or 0) + 1


def _enqueue(
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


def _active_subscriptions(session: Session, subject_ids: Sequence[int]) -> list[PushSubscription]:
    if not subject_ids:
        return []
    return list(
        session.scalars(
            select(PushSubscription)
            .where(PushSubscription.subject_id.in_(subject_ids), PushSubscription.status == "active")
            .order_by(PushSubscription.id)
        )
    )


def _covers(sub: PushSubscription, item_code: str) -> bool:
    return sub.items is None or item_code in sub.items


# Hooks -------------------------------------------------------------------------------------------


def _on_loaded(session: Session, submission_id: int) -> None:
    records = list(
        session.scalars(
            select(CreditRecord).where(CreditRecord.submission_id == submission_id).order_by(CreditRecord.id)
        )
    )
    subs = _active_subscriptions(session, sorted({r.subject_id for r in records}))
    if not subs:
        return
    items = catalog_items(session)
    by_subject: dict[int, list[PushSubscription]] = {}
    for s in subs:
        by_subject.setdefault(s.subject_id, []).append(s)
    for r in records:
        item = items.get(r.item_code)
        names = [f.name for f in item.fields if not f.sensitive] if item else list(r.data)
        data = {
            "item": r.item_code,
            "record_id": r.id,
            "provider": r.provider_org_id,
            "provider_record_id": r.provider_record_id,
            "version": r.version,
            "event_date": r.event_date.isoformat() if r.event_date else None,
            "valid_until": r.valid_until.isoformat() if r.valid_until else None,
            "negative": r.negative,
            "fields": {n: r.data.get(n) for n in names},
        }
        for s in by_subject.get(r.subject_id, []):
            if _covers(s, r.item_code):
                _enqueue(session, s, "record_changed" if r.version > 1 else "record_new", data)


def _on_consent_ended(row: Consent) -> None:
    session = object_session(row)
    if session is None:
        return
    subs = session.scalars(
        select(PushSubscription).where(
            PushSubscription.consent_id == row.id, PushSubscription.status == "active"
        )
    )
    for sub in subs:
        end_subscription(session, sub, row.state.lower())


def _subscribed_orgs(session: Session, record_ids: list[int]) -> set[str]:
    """Objection outcomes also reach banks that watch the subject, not only those that queried it."""
    subjects = select(CreditRecord.subject_id).where(CreditRecord.id.in_(record_ids))
    return set(
        session.scalars(
            select(PushSubscription.org_id).where(
                PushSubscription.subject_id.in_(subjects), PushSubscription.status == "active"
            )
        )
    )


def pull_objection_outbox(session: Session, *, limit: int = 500) -> int:
    """Turn undelivered objection notifications addressed to a bank that watches the subject into push
    events of its subscription, and mark them delivered. Notifications for banks without a subscription
    stay in the objections outbox for other channels."""
    rows = session.execute(
        select(ObjectionOutbox, Objection, PushSubscription)
        .join(Objection, Objection.id == ObjectionOutbox.objection_id)
        .join(
            PushSubscription,
            (PushSubscription.org_id == ObjectionOutbox.recipient_org_id)
            & (PushSubscription.subject_id == Objection.subject_id)
            & (PushSubscription.status == "active"),
        )
        .where(ObjectionOutbox.delivered_at.is_(None))
        .order_by(ObjectionOutbox.id, PushSubscription.id)
        .limit(limit)
    ).all()
    made = 0
    now = utcnow()
    for outbox_row, objection, sub in rows:
        if _covers(sub, objection.item_code):
            _enqueue(session, sub, outbox_row.kind, json.loads(outbox_row.payload_json))
            made += 1
        outbox_row.delivered_at = now
    session.flush()
    return made


_installed = False
_install_lock = threading.Lock()


def install_hooks() -> None:
    """Register the push hooks once per process (ingestion, consent ending, objection recipients)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        on_records_loaded(_on_loaded)
        on_consent_ended(_on_consent_ended)
        add_recipients_resolver(_subscribed_orgs)
        _installed = True


# Consent gate and delivery -----------------------------------------------------------------------


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


def sign(services: Services, body: bytes, timestamp: int) -> str:
    sig = services.keyring.signing_key.sign(str(timestamp).encode() + b"." + body)
    return "ed25519=" + base64.b64encode(sig).decode()


def verify_webhook(
    public_key: Ed25519PublicKey,
    body: bytes,
    timestamp: str,
    signature: str,
    *,
    max_age: int = 300,
    now: float | None = None,
) -> bool:
    """The receiver's check: a fresh timestamp and an Ed25519 signature over ``timestamp.body``."""
    if not signature.startswith("ed25519="):
        return False
    try:
        ts = int(timestamp)
        raw = base64.b64decode(signature.removeprefix("ed25519="), validate=True)
        if abs((now if now is not None else time.time()) - ts) > max_age:
            return False
        public_key.verify(raw, timestamp.encode() + b"." + body)
    except (ValueError, InvalidSignature):
        return False
    return True


@dataclass
class DeliveryStats:
    attempted: int = 0
    delivered: int = 0
    failed: int = 0


def _heads(session: Session, now: dt.datetime, limit: int) -> list[int]:
    """The first undelivered event of every subscription, when it is due and gated (``pending``)."""
    first = (
        select(PushEvent.subscription_id, func.min(PushEvent.subject_seq).label("seq"))
        .where(PushEvent.status.in_(("new", "pending")))
        .group_by(PushEvent.subscription_id)
        .subquery()
    )
    q = (
        select(PushEvent.id)
        .join(
            first,
            (PushEvent.subscription_id == first.c.subscription_id) & (PushEvent.subject_seq == first.c.seq),
        )
        .join(PushSubscription, PushSubscription.id == PushEvent.subscription_id)
        .where(
            PushEvent.status == "pending",
            PushEvent.next_attempt_at <= now,
            PushSubscription.webhook_url.is_not(None),
        )
        .order_by(PushEvent.next_attempt_at, PushEvent.id)
        .limit(limit)
    )
    return list(session.scalars(q))


def _deliver_one(services: Services, http: httpx.Client, event_id: int, now: dt.datetime) -> bool | None:
    with services.tx() as session:
        event = session.get(PushEvent, event_id)
        if event is None or event.status != "pending":
            return None
        q = select(PushSubscription).where(PushSubscription.id == event.subscription_id)
        if session.get_bind().dialect.name == "postgresql":
            q = q.with_for_update()
        sub = session.scalar(q)
        if sub is None or sub.webhook_url is None:
            return None
        if sub.status != "active" and event.kind != "consent_ended":
            event.status, event.last_error = "dropped", "subscription ended"
            return None
        body = event.payload_json.encode()
        ts = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": event.idempotency_key,
            "Fincredit-Event": event.kind,
            "Fincredit-Subscription": sub.id,
            "Fincredit-Sequence": str(event.subject_seq),
            "Fincredit-Timestamp": str(ts),
            "Fincredit-Signature": sign(services, body, ts),
        }
        event.attempts += 1
        try:
            r = http.post(sub.webhook_url, content=body, headers=headers)
            ok = 200 <= r.status_code < 300
            error = None if ok else f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"[:300]
        if ok:
            event.status, event.delivered_at, event.last_error = "delivered", utcnow(), None
        else:
            delay = min(BASE_DELAY * 2 ** (event.attempts - 1), MAX_DELAY)
            event.next_attempt_at = now + dt.timedelta(seconds=delay)
            event.last_error = error
        return ok


def deliver_due(
    services: Services, *, now: dt.datetime | None = None, limit: int = 200, http: httpx.Client | None = None
) -> DeliveryStats:
    """One pass: attempt the due head event of each subscription once."""
    now = now or utcnow()
    stats = DeliveryStats()
    with services.read() as session:
        heads = _heads(session, now, limit)
    own = http is None
    client = http or httpx.Client(timeout=TIMEOUT, follow_redirects=False)
    try:
        for event_id in heads:
            outcome = _deliver_one(services, client, event_id, now)
            if outcome is None:
                continue
            stats.attempted += 1
            if outcome:
                stats.delivered += 1
            else:
                stats.failed += 1
    finally:
        if own:
            client.close()
    return stats


def drain(services: Services, *, now: dt.datetime | None = None, max_rounds: int = 100) -> DeliveryStats:
    """What the worker does, until nothing is due (the ``fincredit push deliver`` one-shot)."""
    total = DeliveryStats()
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as http:
        for _ in range(max_rounds):
            with services.tx() as session:
                pull_objection_outbox(session)
            prepare_new(services)
            stats = deliver_due(services, now=now, http=http)
            total.attempted += stats.attempted
            total.delivered += stats.delivered
            total.failed += stats.failed
            if stats.delivered == 0:
                break
    return total


class PushWorker:
    """The background delivery loop the app starts in its lifespan (a daemon thread)."""

    def __init__(self, services: Services, interval: float = 1.0) -> None:
        self.services = services
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fincredit-push", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as http:
            while not self._stop.is_set():
                try:
                    with self.services.tx() as session:
                        pull_objection_outbox(session)
                    prepare_new(self.services)
                    stats = deliver_due(self.services, http=http)
                except Exception:  # the loop must survive a database hiccup; the outbox keeps the work
                    log.exception("push worker pass failed")
                    stats = DeliveryStats()
                if stats.attempted == 0:
                    self._stop.wait(self.interval)


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


def start_push_worker(services: Services) -> PushWorker | None:
    """Started in the app's lifespan; ``FINCREDIT_PUSH_WORKER=0`` turns it off (tests drive delivery
    themselves; a deployment may run ``fincredit push deliver`` from a scheduler instead)."""
    import os

    if os.environ.get("FINCREDIT_PUSH_WORKER", "1") == "0":
        return None
    interval = float(os.environ.get("FINCREDIT_PUSH_INTERVAL", "1.0"))
    worker = PushWorker(services, interval=interval)
    worker.start()
    return worker
