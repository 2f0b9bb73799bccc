"""The built-in stand-in for the provincial node: accepts financing results in the documented format,
requires the configured bearer token, and records each idempotency key once."""

from __future__ import annotations

import hmac
import json
import uuid
from typing import Any

from sqlalchemy.orm import Session

from fincredit.platform.core.db import utcnow
from fincredit.platform.core.errors import InvalidInput, Unauthenticated
from fincredit.platform.core.services import Services
from fincredit.platform.national._outbox import FORMAT
from fincredit.platform.national.tables import NationalNodeReceipt

_RESULT_FIELDS = ("enterprise", "bank", "amount", "term_months", "granted_on", "channel")


def check_token(services: Services, authorization: str | None) -> None:
    expected = services.settings.national_node_token.get_secret_value()
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthenticated("the national node requires its bearer token")


def receive(session: Session, body: dict[str, Any], key_header: str | None) -> tuple[str, bool]:
    """Record one result; returns (receipt id, whether this key was seen before)."""
    if body.get("format") != FORMAT:
        raise InvalidInput(f"format must be {FORMAT!r}")
    key = str(body.get("idempotency_key") or "")
    if not key or (key_header is not None and key_header != key):
        raise InvalidInput("the Idempotency-Key header and the body's idempotency_key must agree")
    result = body.get("result")
    if not isinstance(result, dict) or any(f not in result for f in _RESULT_FIELDS):
        raise InvalidInput(f"result needs {_RESULT_FIELDS}")
    dialect = session.get_bind().dialect.name
    query = session.query(NationalNodeReceipt).filter_by(idempotency_key=key)
    if dialect == "postgresql":
        query = query.with_for_update()
    existing = query.one_or_none()
    if existing is not None:
        existing.times_received += 1
        return existing.receipt_id, True
    receipt = NationalNodeReceipt(
        idempotency_key=key,
        receipt_id="rcpt_" + uuid.uuid4().hex[:20],
        payload_json=json.dumps(body, ensure_ascii=False, sort_keys=True),
        times_received=1,
        received_at=utcnow(),
    )
    session.add(receipt)
    session.flush()
    return receipt.receipt_id, False
