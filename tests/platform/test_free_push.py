"""Information push: a provider's changed record reaches the subscribed bank as a signed webhook
(Ed25519 over timestamp + raw body, verifiable with the published key) with an idempotency key,
ledgered as a disclosure of exactly that body; failures are retried with exponential backoff until
acknowledged; a subscription's events leave strictly in order; ending the consent stops pushes at
once; objection events arrive too; banks without a webhook poll a feed with a cursor."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select

from fincredit.consent import ConsentEvent
from fincredit.platform.consents import record_event
from fincredit.platform.consents.tables import LedgerEntryRow
from fincredit.platform.free import (
    BASE_DELAY,
    deliver_due,
    drain,
    prepare_new,
    pull_objection_outbox,
    verify_webhook,
)
from fincredit.platform.free.receiver import WebhookReceiver
from fincredit.platform.free.tables import PushEvent
from fincredit.platform.ingestion.tables import CreditRecord
from fincredit.platform.objections import file_objection
from fincredit.platform.testing.plugin import auth, new_institution
from fincredit.platform.testing.seed import grant_consent, load_records, new_enterprise


@pytest.fixture(autouse=True)
def _no_push_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINCREDIT_PUSH_WORKER", "0")


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver().start()
    yield r
    r.stop()


def _tax(sid: int, rating: str, n: int = 0) -> dict[str, object]:
    return {
        "provider_record_id": f"T{n}-{sid}",
        "rating_year": 2025,
        "rating": rating,
        "rated_date": "2025-04-01",
    }


def _subscribe(client, services, webhook: str | None):  # type: ignore[no-untyped-def]
    ident, sid = new_enterprise(services)
    bank = new_institution(services, "bank")
    cid = grant_consent(
        services,
        sid,
        bank.org_id,
        purpose="post_loan_monitoring",
        scopes=["tax_rating"],
        modes=["query", "push_subscription"],
    )
    h = auth(client, bank)
    body: dict[str, object] = {"identifier": ident, "items": ["tax_rating"]}
    if webhook:
        body["webhook_url"] = webhook
    r = client.post("/api/v1/free/push/subscriptions", headers=h, json=body)
    assert r.status_code == 201, r.text
    return ident, sid, cid, h, r.json()


def _events(services, sub_id: str) -> list[PushEvent]:  # type: ignore[no-untyped-def]
    with services.read() as session:
        return list(
            session.scalars(
                select(PushEvent).where(PushEvent.subscription_id == sub_id).order_by(PushEvent.subject_seq)
            )
        )


def _revoke(services, consent_id: str) -> None:  # type: ignore[no-untyped-def]
    with services.tx() as session:
        record_event(session, services, consent_id=consent_id, event=ConsentEvent.REVOKE, actor="test")


def test_a_changed_record_is_pushed_signed_and_ledgered(client, services, receiver) -> None:  # type: ignore[no-untyped-def]
    ident, sid, cid, _, sub = _subscribe(client, services, receiver.url)
    load_records(services, "tax_rating", ident, [_tax(sid, "B")])
    load_records(services, "tax_rating", ident, [_tax(sid, "A")])  # the same record, changed
    drain(services)
    assert [json.loads(r.body)["event"] for r in receiver.received] == ["record_new", "record_changed"]
    hit = receiver.received[1]
    payload = json.loads(hit.body)
    assert payload["data"]["fields"]["rating"] == "A" and payload["data"]["version"] == 2
    key = client.get("/api/v1/free/push/public-key").json()
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key_raw_b64"]))
    ts, sig = hit.headers["Fincredit-Timestamp"], hit.headers["Fincredit-Signature"]
    assert verify_webhook(public, hit.body, ts, sig)
    assert not verify_webhook(public, hit.body.replace(b'"A"', b'"D"'), ts, sig)
    assert not verify_webhook(public, hit.body, str(int(ts) - 3600), sig)
    assert hit.headers["Idempotency-Key"] == payload["idempotency_key"]
    events = _events(services, sub["id"])
    with services.read() as session:
        entry = session.get(LedgerEntryRow, events[1].ledger_seq)
    assert entry is not None and entry.type == "push_disclosure" and entry.consent_id == cid
    assert entry.payload_sha256 == hashlib.sha256(hit.body).hexdigest()


def test_failures_are_retried_with_exponential_backoff_until_acknowledged(client, services, receiver) -> None:  # type: ignore[no-untyped-def]
    ident, sid, _, _, sub = _subscribe(client, services, receiver.url)
    load_records(services, "tax_rating", ident, [_tax(sid, "B")])
    prepare_new(services)
    receiver.fail_next = 2
    t0 = dt.datetime.now(dt.UTC)

    def attempt(after: float) -> None:
        deliver_due(services, now=t0 + dt.timedelta(seconds=after))

    attempt(0)  # fails: next in BASE_DELAY
    attempt(BASE_DELAY * 0.5)  # not due yet
    attempt(BASE_DELAY * 1.01)  # fails again: next in 2 * BASE_DELAY
    attempt(BASE_DELAY * 2.5)  # not due yet
    attempt(BASE_DELAY * 3.1)  # acknowledged
    attempt(BASE_DELAY * 100)  # nothing left
    keys = [r.headers["Idempotency-Key"] for r in receiver.received]
    assert len(keys) == 3 and len(set(keys)) == 1
    (event,) = _events(services, sub["id"])
    assert event.status == "delivered" and event.attempts == 3


def test_event_n_plus_1_never_leaves_before_n_is_acknowledged(client, services, receiver) -> None:  # type: ignore[no-untyped-def]
    ident, sid, *_ = _subscribe(client, services, receiver.url)
    for i, rating in enumerate("BCA"):
        load_records(services, "tax_rating", ident, [_tax(sid, rating, i)])
    prepare_new(services)
    receiver.fail_next = 1
    t0 = dt.datetime.now(dt.UTC)
    for k in range(8):
        deliver_due(services, now=t0 + dt.timedelta(seconds=BASE_DELAY * 1.5 * k))
    seqs = [json.loads(r.body)["sequence"] for r in receiver.received]
    assert seqs == [1, 1, 2, 3]


def test_ending_the_consent_stops_pushes_at_once(client, services, receiver) -> None:  # type: ignore[no-untyped-def]
    ident, sid, cid, h, sub = _subscribe(client, services, receiver.url)
    load_records(services, "tax_rating", ident, [_tax(sid, "B")])
    prepare_new(services)  # gated and ledgered, not yet delivered
    _revoke(services, cid)
    drain(services)
    kinds = [json.loads(r.body)["event"] for r in receiver.received]
    assert kinds == ["consent_ended"]
    assert json.loads(receiver.received[0].body)["data"] == {"reason": "revoked", "consent_id": cid}
    data_event = _events(services, sub["id"])[0]
    assert data_event.status == "dropped"
    load_records(services, "tax_rating", ident, [_tax(sid, "D")])  # after revocation: nothing new
    drain(services)
    assert len(receiver.received) == 1 and len(_events(services, sub["id"])) == 2
    listed = client.get("/api/v1/free/push/subscriptions", headers=h).json()
    assert [s["status"] for s in listed] == ["ended"] and listed[0]["ended_reason"] == "revoked"


def test_polling_feed_with_cursor_and_objection_events(client, services) -> None:  # type: ignore[no-untyped-def]
    ident, sid, _, h, sub = _subscribe(client, services, None)
    load_records(services, "tax_rating", ident, [_tax(sid, "C")])
    prepare_new(services)
    first = client.get("/api/v1/free/push/feed", headers=h).json()
    assert [e["event"] for e in first["items"]] == ["record_new"]
    with services.read() as session:
        record = session.scalar(select(CreditRecord).where(CreditRecord.subject_id == sid))
    assert record is not None
    with services.tx() as session:
        file_objection(session, subject_id=sid, record_id=record.id, reason="评级有误", filed_by="acc_x")
    with services.tx() as session:
        assert pull_objection_outbox(session) >= 1
    prepare_new(services)
    after = client.get("/api/v1/free/push/feed", headers=h, params={"after": first["next_cursor"]}).json()
    assert [e["event"] for e in after["items"]] == ["record_under_objection"]
    assert after["items"][0]["subscription_id"] == sub["id"]
    empty = client.get("/api/v1/free/push/feed", headers=h, params={"after": after["next_cursor"]}).json()
    assert empty["items"] == [] and empty["next_cursor"] == after["next_cursor"]


def test_webhook_urls_are_http_or_https_only(client, services) -> None:  # type: ignore[no-untyped-def]
    ident, sid = new_enterprise(services)
    bank = new_institution(services, "bank")
    grant_consent(
        services,
        sid,
        bank.org_id,
        purpose="post_loan_monitoring",
        scopes=["tax_rating"],
        modes=["push_subscription"],
    )
    h = auth(client, bank)
    for url in ("ftp://127.0.0.1/x", "file:///etc/passwd", "http://user:pw@127.0.0.1/x"):
        r = client.post(
            "/api/v1/free/push/subscriptions", headers=h, json={"identifier": ident, "webhook_url": url}
        )
        assert r.status_code == 422, url


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_an_event_another_deliverer_is_sending_is_skipped_not_sent_twice(client, services, receiver) -> None:  # type: ignore[no-untyped-def]
    ident, sid, _, _, sub = _subscribe(client, services, receiver.url)
    load_records(services, "tax_rating", ident, [_tax(sid, "B")])
    prepare_new(services)  # consent-gated and ready to send
    with services.tx() as session:  # another deliverer holds the event while it sends
        held = session.scalar(
            select(PushEvent).where(PushEvent.subscription_id == sub["id"]).with_for_update()
        )
        assert held is not None and held.status == "pending"
        assert deliver_due(services).delivered == 0
        assert receiver.received == []
    assert drain(services).delivered == 1
    assert len(receiver.received) == 1
