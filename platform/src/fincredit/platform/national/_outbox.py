"""National network reporting (G§12): loans granted through matchmaking and thematic boards are
reported to the provincial node through a durable outbox.

Format ``fincredit.national.financing-result/1`` — one JSON object per POST to the node's endpoint
(``settings.national_node_url``), with headers ``Authorization: Bearer <national_node_token>`` and
``Idempotency-Key: <idempotency_key>``::

    {
      "format": "fincredit.national.financing-result/1",
      "idempotency_key": "32 hex digits, stable for this loan across every retry",
      "reporting_node": "330200",            # this platform's node id
      "reported_at": "2026-11-22T03:40:00+00:00",
      "result": {
        "enterprise": {"uscc": "91330203...", "name": "宁波…有限公司", "region": "330203"},
        "bank": {"org_id": "bank-…", "name": "…银行"},
        "amount": 1000000.0,                  # yuan
        "term_months": 12,
        "granted_on": "2026-11-22",           # China date of the bank's "granted" outcome
        "channel": "matchmaking" | "board",
        "board_id": "board_…" | null          # when the loan came through a thematic board
      }
    }

The node answers 200/201 with ``{"receipt_id": "...", "duplicate": bool}`` and deduplicates by the key,
so a result the platform re-sends after losing the node's answer is recorded once (exactly-once at the
receiver under at-least-once delivery). Failed attempts are retried with exponential backoff
(``BASE_DELAY`` doubling up to ``MAX_DELAY``); a row leaves the outbox only when the node confirms.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fincredit.platform.boards.tables import BoardProduct, BoardReach
from fincredit.platform.core.db import Organisation, Subject, utcnow
from fincredit.platform.core.services import Services
from fincredit.platform.free.tables import FinancingNeed, MatchLead
from fincredit.platform.market import china_date
from fincredit.platform.national.tables import NationalReport
from fincredit.platform.subjects import subject_name

FORMAT = "fincredit.national.financing-result/1"
RECEIVER_PATH = "/national-node/v1/financing-results"
BASE_DELAY = dt.timedelta(seconds=30)
MAX_DELAY = dt.timedelta(hours=6)

# (url, json body, headers) -> (HTTP status, parsed JSON body); raises on transport failure.
Poster = Callable[[str, dict[str, Any], dict[str, str]], tuple[int, dict[str, Any]]]


def idempotency_key(services: Services, lead_id: int) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{services.settings.ledger_origin}/financing-result/{lead_id}").hex


def _channel(session: Session, lead: MatchLead) -> tuple[str, str | None]:
    board_id = session.scalar(
        select(BoardReach.board_id)
        .join(
            BoardProduct,
            (BoardProduct.board_id == BoardReach.board_id) & (BoardProduct.product_id == lead.product_id),
        )
        .where(BoardReach.need_id == lead.need_id)
        .order_by(BoardReach.reached_at)
        .limit(1)
    )
    return ("board", board_id) if board_id else ("matchmaking", None)


def payload_for(session: Session, services: Services, lead: MatchLead) -> dict[str, Any]:
    need = session.get(FinancingNeed, lead.need_id)
    assert need is not None
    subject = session.get(Subject, need.subject_id)
    assert subject is not None
    bank = session.get(Organisation, lead.org_id)
    channel, board_id = _channel(session, lead)
    return {
        "format": FORMAT,
        "idempotency_key": idempotency_key(services, lead.id),
        "reporting_node": services.settings.national_reporting_node,
        "reported_at": utcnow().isoformat(),
        "result": {
            "enterprise": {
                "uscc": services.keyring.decrypt(subject.code_enc, context=f"subject:{subject.kind}"),
                "name": subject_name(session, services.keyring, subject),
                "region": subject.region,
            },
            "bank": {"org_id": lead.org_id, "name": bank.name if bank else lead.org_id},
            "amount": float(need.amount),
            "term_months": int(need.term_months),
            "granted_on": china_date(lead.outcome_at or utcnow()).isoformat(),
            "channel": channel,
            "board_id": board_id,
        },
    }


def enqueue_granted(session: Session, services: Services, *, limit: int = 1000) -> int:
    """Put every granted loan not yet in the outbox into it; returns how many were added."""
    reported = select(NationalReport.lead_id)
    leads = session.scalars(
        select(MatchLead)
        .where(MatchLead.outcome == "granted", MatchLead.id.not_in(reported))
        .order_by(MatchLead.id)
        .limit(limit)
    ).all()
    for lead in leads:
        payload = payload_for(session, services, lead)
        session.add(
            NationalReport(
                idempotency_key=payload["idempotency_key"],
                lead_id=lead.id,
                payload_json=json.dumps(payload, ensure_ascii=False, sort_keys=True),
                status="pending",
                attempts=0,
                next_attempt_at=utcnow(),
            )
        )
    session.flush()
    return len(leads)


def endpoint(services: Services) -> str:
    return services.settings.national_node_url or services.settings.base_url + RECEIVER_PATH


def http_poster(timeout: float = 10.0) -> Poster:
    import httpx

    def post(url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        r = httpx.post(url, json=body, headers=headers, timeout=timeout)
        try:
            data = r.json()
        except ValueError:
            data = {}
        return r.status_code, data if isinstance(data, dict) else {}

    return post


@dataclass(frozen=True, slots=True)
class DeliveryRun:
    delivered: int
    failed: int


def backoff(attempts: int) -> dt.timedelta:
    delay: dt.timedelta = BASE_DELAY * (2 ** max(attempts - 1, 0))
    return min(delay, MAX_DELAY)


def deliver_due(
    services: Services, *, poster: Poster | None = None, now: dt.datetime | None = None, batch: int = 100
) -> DeliveryRun:
    """Send every due outbox row once; each outcome is committed on its own, so a crash mid-run loses
    nothing and repeats at most the one send whose answer was not recorded (the node dedups it)."""
    poster = poster or http_poster()
    now = now or utcnow()
    url = endpoint(services)
    token = services.settings.national_node_token.get_secret_value()
    with services.read() as session:
        due = list(
            session.execute(
                select(NationalReport.id, NationalReport.idempotency_key, NationalReport.payload_json)
                .where(NationalReport.status == "pending", NationalReport.next_attempt_at <= now)
                .order_by(NationalReport.id)
                .limit(batch)
            ).all()
        )
    delivered = failed = 0
    for row_id, key, body in due:
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
        error: str | None = None
        receipt: str | None = None
        try:
            status, answer = poster(url, json.loads(body), headers)
            if status in (200, 201) and answer.get("receipt_id"):
                receipt = str(answer["receipt_id"])
            else:
                error = f"node answered {status}: {str(answer)[:200]}"
        except Exception as exc:  # any transport failure is retried
            error = f"{type(exc).__name__}: {exc}"[:300]
        with services.tx() as session:
            row = session.get(NationalReport, row_id)
            assert row is not None
            row.attempts += 1
            if receipt is not None:
                row.status, row.receipt_id, row.delivered_at, row.last_error = (
                    "delivered",
                    receipt,
                    utcnow(),
                    None,
                )
                delivered += 1
            else:
                row.last_error = error
                row.next_attempt_at = now + backoff(row.attempts)
                failed += 1
    return DeliveryRun(delivered, failed)


def outbox_status(session: Session) -> dict[str, Any]:
    from sqlalchemy import func

    counts = dict(
        session.execute(select(NationalReport.status, func.count()).group_by(NationalReport.status)).all()
    )
    oldest = session.scalar(
        select(func.min(NationalReport.created_at)).where(NationalReport.status == "pending")
    )
    return {
        "pending": int(counts.get("pending", 0)),
        "delivered": int(counts.get("delivered", 0)),
        "oldest_pending": oldest,
    }
