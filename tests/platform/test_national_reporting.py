"""National network reporting (G§12): a loan granted through matchmaking or a board enters the durable
outbox once, in the documented JSON format; failed sends are retried with backoff; a send whose answer
was lost is repeated with the same idempotency key and the built-in receiver records it exactly once."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from fincredit.platform.core.db import utcnow
from fincredit.platform.free.tables import FinancingNeed, LoanProduct, MatchLead
from fincredit.platform.national import FORMAT, RECEIVER_PATH, deliver_due, enqueue_granted
from fincredit.platform.national.tables import NationalNodeReceipt, NationalReport
from fincredit.platform.testing.plugin import new_institution
from fincredit.platform.testing.seed import new_enterprise


@pytest.fixture(autouse=True)
def _no_push_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINCREDIT_PUSH_WORKER", "0")


def _granted_loan(services, amount: float = 1_200_000) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    code, sid = new_enterprise(services)
    with services.tx() as session:
        product = LoanProduct(
            id=f"prod_{uuid.uuid4().hex[:16]}",
            org_id=bank.org_id,
            name="科创贷",
            amount_min=1,
            amount_max=1e8,
            term_min=1,
            term_max=60,
            rate_min=3.0,
            rate_max=4.0,
            rules={"fact": "kind", "op": "eq", "value": "legal"},
            active=True,
        )
        need = FinancingNeed(
            id=f"need_{uuid.uuid4().hex[:16]}",
            subject_id=sid,
            account_id="acc_test",
            amount=amount,
            term_months=24,
            use_of_funds="研发投入",
            status="open",
        )
        session.add_all([product, need])
        session.flush()
        lead = MatchLead(need_id=need.id, product_id=product.id, org_id=bank.org_id, score=90.0)
        session.add(lead)
        session.flush()
        lead.outcome, lead.outcome_at = "granted", utcnow()
        return lead.id, code, bank.org_id


def _via(client, key: str, *, lose_answer_once: bool = False, unreachable: bool = False):  # type: ignore[no-untyped-def]
    """A poster through the app's built-in receiver. For result ``key`` it can fail before sending, or
    lose the receiver's answer once after the result was recorded (other tests' results pass through)."""
    state = {"calls": 0, "lost": False}

    def post(url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        mine = headers["Idempotency-Key"] == key
        state["calls"] += mine
        if unreachable:
            raise ConnectionError("node unreachable")
        r = client.post(RECEIVER_PATH, json=body, headers=headers)
        if mine and lose_answer_once and not state["lost"]:
            state["lost"] = True
            raise TimeoutError("answer lost after the node recorded the result")
        return r.status_code, r.json()

    return post, state


def _report(services, lead_id: int) -> NationalReport:  # type: ignore[no-untyped-def]
    with services.read() as session:
        row = session.scalar(select(NationalReport).where(NationalReport.lead_id == lead_id))
        assert row is not None
        session.expunge(row)
        return row


def test_granted_loan_is_reported_once_in_the_documented_format(services, client) -> None:  # type: ignore[no-untyped-def]
    lead_id, code, bank_id = _granted_loan(services)
    with services.tx() as session:
        assert enqueue_granted(session, services) >= 1
    with services.tx() as session:
        assert lead_id in set(session.scalars(select(NationalReport.lead_id)))
        enqueue_granted(session, services)  # a second scan adds nothing for this loan
    with services.read() as session:
        assert (
            len(session.scalars(select(NationalReport).where(NationalReport.lead_id == lead_id)).all()) == 1
        )
    payload = json.loads(_report(services, lead_id).payload_json)
    assert payload["format"] == FORMAT
    result = payload["result"]
    assert result["enterprise"]["uscc"] == code and result["bank"]["org_id"] == bank_id
    assert (result["amount"], result["term_months"], result["channel"]) == (1_200_000.0, 24, "matchmaking")
    assert dt.date.fromisoformat(result["granted_on"])


def test_retries_with_backoff_and_exactly_once_at_the_receiver(services, client) -> None:  # type: ignore[no-untyped-def]
    lead_id, _, _ = _granted_loan(services, amount=300_000)
    with services.tx() as session:
        enqueue_granted(session, services)
    key = _report(services, lead_id).idempotency_key
    now = utcnow()

    unreachable, _ = _via(client, key, unreachable=True)
    deliver_due(services, poster=unreachable, now=now)
    first = _report(services, lead_id)
    assert first.status == "pending" and first.attempts == 1 and "unreachable" in (first.last_error or "")
    assert first.next_attempt_at >= now + dt.timedelta(seconds=30)
    deliver_due(services, poster=unreachable, now=now)  # not due yet: no attempt
    assert _report(services, lead_id).attempts == 1

    lossy, state = _via(client, key, lose_answer_once=True)
    later = now + dt.timedelta(minutes=5)
    deliver_due(services, poster=lossy, now=later)
    assert _report(services, lead_id).status == "pending"  # recorded by the node, but we never heard
    deliver_due(services, poster=lossy, now=later + dt.timedelta(hours=1))
    done = _report(services, lead_id)
    assert done.status == "delivered" and done.attempts == 3 and done.receipt_id
    with services.read() as session:
        receipts = session.scalars(
            select(NationalNodeReceipt).where(NationalNodeReceipt.idempotency_key == key)
        ).all()
    assert (
        len(receipts) == 1 and receipts[0].times_received == 2 and receipts[0].receipt_id == done.receipt_id
    )
    assert state["calls"] == 2


def test_receiver_requires_the_node_token_and_the_format(services, client) -> None:  # type: ignore[no-untyped-def]
    body = {"format": FORMAT, "idempotency_key": uuid.uuid4().hex, "result": {}}
    assert client.post(RECEIVER_PATH, json=body).status_code == 401
    assert client.post(RECEIVER_PATH, json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    token = services.settings.national_node_token.get_secret_value()
    bad = client.post(RECEIVER_PATH, json=body, headers={"Authorization": f"Bearer {token}"})
    assert bad.status_code == 422
