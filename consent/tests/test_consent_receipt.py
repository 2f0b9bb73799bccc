"""Consent receipts carry the ISO/IEC TS 27560 record fields and verify with the platform's public key."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fincredit.consent import ReceiptError, build_receipt, sign_receipt, verify_receipt
from fincredit.consent._canonical import canonical_json

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


@pytest.fixture
def receipt(make_active, t0):
    state = make_active()
    return build_receipt(
        state,
        controller_id="fincredit-platform",
        controller_name="City financing credit service platform",
        controller_contact="dpo@fincredit.example",
        notice_url="https://fincredit.example/notice/consent",
        notice_version="2026-01",
        issued_at=t0 + dt.timedelta(minutes=1),
        grantee_name="Example Bank Ningbo branch",
        ledger_seq=42,
    )


def test_the_receipt_has_the_27560_sections(receipt, company):
    for field in (
        "schema_version",
        "receipt_id",
        "receipt_timestamp",
        "record_id",
        "pii_principal_id",
        "notice",
        "pii_controllers",
        "purposes",
        "event",
        "consent_status",
    ):
        assert field in receipt
    purpose = receipt["purposes"][0]
    assert purpose["pii_categories"] == ["court.judgment", "tax.arrears"]
    assert purpose["processing"] == ["query", "report"]
    assert purpose["pii_recipients"][0]["id"] == "91330200MA2BANK01X"
    assert (
        receipt["event"]["event_type"] == "consent_given"
        and receipt["event"]["event_by"] == "acct:borrower-1"
    )
    assert receipt["pii_principal_id"] == company.masked and company.code not in json.dumps(receipt)


def test_a_signed_receipt_verifies_with_the_public_key(receipt):
    jws = sign_receipt(receipt, KEY, kid="platform-2026")
    assert verify_receipt(jws, KEY.public_key()) == receipt
    header = json.loads(base64.urlsafe_b64decode(jws.split(".")[0] + "=="))
    assert header == {"alg": "EdDSA", "kid": "platform-2026", "typ": "consent-receipt+jws"}


def test_the_signed_payload_is_the_canonical_json(receipt):
    payload = jws_payload(sign_receipt(receipt, KEY, kid="k"))
    assert payload == canonical_json(receipt)


def jws_payload(jws: str) -> bytes:
    p = jws.split(".")[1]
    return base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))


def test_a_tampered_receipt_fails(receipt):
    jws = sign_receipt(receipt, KEY, kid="k")
    changed = dict(receipt, consent_status="REVOKED")
    forged_payload = base64.urlsafe_b64encode(canonical_json(changed)).rstrip(b"=").decode()
    h, _, s = jws.split(".")
    with pytest.raises(ReceiptError, match="does not verify"):
        verify_receipt(f"{h}.{forged_payload}.{s}", KEY.public_key())


def test_a_receipt_signed_by_another_key_fails(receipt):
    jws = sign_receipt(receipt, Ed25519PrivateKey.generate(), kid="k")
    with pytest.raises(ReceiptError):
        verify_receipt(jws, KEY.public_key())


@pytest.mark.parametrize("bad", ["", "a.b", "a.b.c.d", "!!.??.**"])
def test_garbage_is_not_a_receipt(bad):
    with pytest.raises(ReceiptError):
        verify_receipt(bad, KEY.public_key())
