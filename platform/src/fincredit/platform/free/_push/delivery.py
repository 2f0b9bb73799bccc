"""Delivery: at-least-once webhook delivery of gated events, in order per subscription, with backoff;
by a one-shot drain or the background worker."""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from dataclasses import dataclass

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fincredit.platform.core.db import utcnow
from fincredit.platform.core.services import Services
from fincredit.platform.free._push.gate import prepare_new
from fincredit.platform.free._push.hooks import pull_objection_outbox
from fincredit.platform.free._push.signing import sign
from fincredit.platform.free.tables import PushEvent, PushSubscription

log = logging.getLogger("fincredit.push")
BASE_DELAY = 2.0
MAX_DELAY = 3600.0
TIMEOUT = 5.0


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
        postgres = session.get_bind().dialect.name == "postgresql"
        # Several deliverers may run (the service's loop in each worker, `fincredit worker`): the event's
        # row lock makes one of them send it; the others skip it rather than wait and send it again.
        event_q = select(PushEvent).where(PushEvent.id == event_id)
        if postgres:
            event_q = event_q.with_for_update(skip_locked=True)
        event = session.scalar(event_q)
        if event is None or event.status != "pending":
            return None
        q = select(PushSubscription).where(PushSubscription.id == event.subscription_id)
        if postgres:
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


def start_push_worker(services: Services) -> PushWorker | None:
    """Started in the app's lifespan; ``FINCREDIT_PUSH_WORKER=0`` turns it off (tests drive delivery
    themselves; a deployment may run ``fincredit push deliver`` from a scheduler instead)."""
    if os.environ.get("FINCREDIT_PUSH_WORKER", "1") == "0":
        return None
    interval = float(os.environ.get("FINCREDIT_PUSH_INTERVAL", "1.0"))
    worker = PushWorker(services, interval=interval)
    worker.start()
    return worker
