"""Webhook signatures: Ed25519 over ``timestamp.body`` with the platform's signing key, and the
receiver's reference check."""

from __future__ import annotations

import base64
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from fincredit.platform.core.services import Services


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
