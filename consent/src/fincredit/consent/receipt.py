"""Consent receipts: the ISO/IEC TS 27560 consent record of a consent, signed by the platform.

The receipt is a JSON object whose fields follow the sections of ISO/IEC TS 27560:2023 (record header:
schema version, record id, PII principal id; PII processing: purposes, PII categories, controllers,
recipients, collection method, processing, storage/retention, jurisdiction, lawful basis, notice;
party identification; event: time, type, by whom, state, validity), plus a receipt header (receipt id,
timestamp, issuer). The PII principal is identified by the masked code only: a receipt is a document the
borrower downloads and may forward, so it must not carry the full identifier.

It is signed as a compact JWS (RFC 7515) with ``alg: EdDSA`` (RFC 8037, Ed25519); the payload is the
RFC 8785 canonical JSON of the receipt, so the bytes signed are reproducible from the JSON alone.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import json
import uuid
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fincredit.consent._canonical import canonical_json
from fincredit.consent.entries import format_time
from fincredit.consent.errors import ReceiptError
from fincredit.consent.lifecycle import ConsentState, ConsentStatus
from fincredit.consent.vocabulary import Purpose

__all__ = ["RECEIPT_SCHEMA", "build_receipt", "sign_receipt", "verify_receipt"]

RECEIPT_SCHEMA = "ISO/IEC TS 27560:2023;fincredit-consent-receipt/1"
_JWS_TYP = "consent-receipt+jws"

_PURPOSE_TEXT = {
    Purpose.LOAN_APPLICATION_ASSESSMENT: "Assess the subject's loan application",
    Purpose.POST_LOAN_MONITORING: "Monitor an outstanding loan to the subject",
    Purpose.JOINT_MODELLING: "Use the subject's records in privacy-preserving joint model training",
    Purpose.ENCRYPTED_SCORING: "Score the subject over encrypted features",
    Purpose.FINANCING_MATCHMAKING: "Match the subject with financing products",
    Purpose.CREDIT_REPORT: "Provide a credit report on the subject",
    Purpose.GOVERNMENT_SHARING: "Share with a government department under an agreed purpose",
    Purpose.GUARANTEE_ASSESSMENT: "Assess a guarantee for the subject",
}

_EVENT_TYPE = {
    ConsentStatus.PENDING: "consent_requested",
    ConsentStatus.ACTIVE: "consent_given",
    ConsentStatus.REJECTED: "consent_refused",
    ConsentStatus.PAUSED: "consent_paused",
    ConsentStatus.REVOKED: "consent_withdrawn",
    ConsentStatus.EXPIRED: "consent_expired",
    ConsentStatus.EXHAUSTED: "consent_used_up",
}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error) as exc:
        raise ReceiptError("receipt segment is not base64url") from exc


def build_receipt(
    state: ConsentState,
    *,
    controller_id: str,
    controller_name: str,
    controller_contact: str,
    notice_url: str,
    notice_version: str,
    issued_at: _dt.datetime,
    grantee_name: str = "",
    withdrawal_method: str = "Revoke at any time in the platform (web or app): Consents → Revoke",
    ledger_seq: int | None = None,
    receipt_id: str | None = None,
    language: str = "zh-CN",
) -> dict[str, Any]:
    """The 27560 consent record of ``state`` as a receipt (unsigned JSON object)."""
    a = state.artefact
    ev = a.evidence
    purpose: dict[str, Any] = {
        "purpose": a.purpose.value,
        "purpose_description": a.purpose_text or _PURPOSE_TEXT[a.purpose],
        "lawful_basis": "separate consent (PIPL art. 29)" if a.sensitive else "consent (PIPL art. 13(1))",
        "pii_categories": sorted(a.scopes),
        "sensitive_pii": a.sensitive,
        "processing": sorted(m.value for m in a.modes),
        "collection_method": "disclosure by the financing credit service platform",
        "pii_recipients": [{"id": a.grantee, "name": grantee_name, "role": "third_party"}],
        "fetch_type": a.fetch_type.value,
        "frequency": None if a.frequency is None else a.frequency.model_dump(mode="json"),
        "storage_duration": a.data_life.model_dump(mode="json"),
        "data_range": None
        if a.data_range is None
        else {"start": format_time(a.data_range.start), "end": format_time(a.data_range.end)},
        "jurisdiction": "CN",
        "withdrawal_method": withdrawal_method,
        "privacy_rights": ["access", "correction", "objection (R§10)", "withdrawal"],
    }
    return {
        "schema_version": RECEIPT_SCHEMA,
        "receipt_id": receipt_id or "rcpt_" + uuid.uuid4().hex,
        "receipt_timestamp": format_time(issued_at),
        "record_id": a.consent_id,
        "pii_principal_id": a.subject.masked,
        "pii_principal_kind": a.subject.kind.value,
        "language": language,
        "notice": {"url": notice_url, "version": notice_version},
        "pii_controllers": [
            {
                "id": controller_id,
                "name": controller_name,
                "contact": controller_contact,
                "role": "controller",
            }
        ],
        "purposes": [purpose],
        "event": {
            "event_time": format_time(state.status_changed_at),
            "event_type": _EVENT_TYPE[state.status],
            "event_by": ev.approved_by_account if ev else None,
            "event_channel": ev.channel if ev else None,
            "event_state": state.status.value,
            "validity": {"start": format_time(a.valid_from), "end": format_time(a.valid_until)},
            "requested_at": format_time(a.created_at),
            "approved_at": format_time(ev.approved_at) if ev else None,
        },
        "consent_status": state.status.value,
        "ledger_seq": ledger_seq,
    }


def sign_receipt(receipt: dict[str, Any], private_key: Ed25519PrivateKey, kid: str) -> str:
    """The compact JWS (EdDSA) of the receipt's canonical JSON."""
    header = canonical_json({"alg": "EdDSA", "kid": kid, "typ": _JWS_TYP})
    signing_input = _b64url(header) + "." + _b64url(canonical_json(receipt))
    return signing_input + "." + _b64url(private_key.sign(signing_input.encode("ascii")))


def verify_receipt(jws: str, public_key: Ed25519PublicKey) -> dict[str, Any]:
    """The receipt in ``jws`` if the platform key signed exactly these bytes, else :class:`ReceiptError`."""
    parts = jws.strip().split(".")
    if len(parts) != 3:
        raise ReceiptError("a compact JWS has three dot-separated parts")
    h64, p64, s64 = parts
    try:
        header = json.loads(_b64url_decode(h64))
        payload = json.loads(_b64url_decode(p64))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReceiptError("receipt header or payload is not JSON") from exc
    if not isinstance(header, dict) or header.get("alg") != "EdDSA":
        raise ReceiptError("receipt is not signed with EdDSA")
    try:
        public_key.verify(_b64url_decode(s64), f"{h64}.{p64}".encode("ascii"))
    except (InvalidSignature, UnicodeEncodeError) as exc:
        raise ReceiptError("the receipt signature does not verify with this public key") from exc
    if not isinstance(payload, dict):
        raise ReceiptError("a receipt is a JSON object")
    return payload
