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

from fincredit.platform.free._push.delivery import (
    BASE_DELAY,
    PushWorker,
    deliver_due,
    drain,
    start_push_worker,
)
from fincredit.platform.free._push.gate import prepare_new
from fincredit.platform.free._push.hooks import install_hooks, pull_objection_outbox
from fincredit.platform.free._push.outbox import feed
from fincredit.platform.free._push.signing import sign, verify_webhook
from fincredit.platform.free._push.subscriptions import (
    cancel,
    check_webhook_url,
    end_subscription,
    get_subscription,
    subscribe,
    subscription_view,
)

__all__ = [
    "BASE_DELAY",
    "PushWorker",
    "cancel",
    "check_webhook_url",
    "deliver_due",
    "drain",
    "end_subscription",
    "feed",
    "get_subscription",
    "install_hooks",
    "prepare_new",
    "pull_objection_outbox",
    "sign",
    "start_push_worker",
    "subscribe",
    "subscription_view",
    "verify_webhook",
]
