"""National network reporting (G§12): financing results to the provincial node through a durable
outbox with retries and idempotency keys, and a built-in receiver standing in for the node. The JSON
format is documented in ``_outbox``'s docstring (and the platform README)."""

from fincredit.platform.national._outbox import (
    BASE_DELAY,
    FORMAT,
    RECEIVER_PATH,
    DeliveryRun,
    Poster,
    backoff,
    deliver_due,
    endpoint,
    enqueue_granted,
    http_poster,
    idempotency_key,
    outbox_status,
    payload_for,
)
from fincredit.platform.national._receiver import check_token, receive

__all__ = [
    "BASE_DELAY",
    "FORMAT",
    "RECEIVER_PATH",
    "DeliveryRun",
    "Poster",
    "backoff",
    "check_token",
    "deliver_due",
    "endpoint",
    "enqueue_granted",
    "http_poster",
    "idempotency_key",
    "outbox_status",
    "payload_for",
    "receive",
]
