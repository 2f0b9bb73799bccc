"""Institutions authenticate with private_key_jwt (RFC 7523); borrowers with a password."""

from __future__ import annotations

import time
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fincredit.platform.identity.accounts import (
    create_borrower_account,
    generate_key_pair,
    register_key,
    revoke_key,
)
from fincredit.platform.identity.tokens import CLIENT_ASSERTION_TYPE, make_client_assertion
from fincredit.platform.subjects import register_subject
from fincredit.platform.testing.plugin import auth, new_institution, obtain_token, unique

AUD = "http://testserver/oauth2/token"


def _token_request(client, assertion: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )


def test_a_signed_assertion_gets_a_short_lived_token(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    r = _token_request(client, make_client_assertion(bank.private_pem, bank.account_id, bank.kid, AUD))
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == services.settings.access_token_ttl_seconds
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["org_id"] == bank.org_id and me.json()["roles"] == ["bank"]


def test_an_assertion_signed_by_another_key_is_refused(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    other_private, _ = generate_key_pair()
    r = _token_request(client, make_client_assertion(other_private, bank.account_id, bank.kid, AUD))
    assert r.status_code == 401
    assert r.json()["type"] == "/problems/invalid-client"


def test_an_assertion_cannot_be_replayed(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    assertion = make_client_assertion(bank.private_pem, bank.account_id, bank.kid, AUD)
    assert _token_request(client, assertion).status_code == 200
    again = _token_request(client, assertion)
    assert again.status_code == 401 and "already used" in again.json()["detail"]


def test_assertion_for_another_audience_or_too_long_lived_is_refused(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    wrong_aud = make_client_assertion(bank.private_pem, bank.account_id, bank.kid, "https://elsewhere/token")
    assert _token_request(client, wrong_aud).status_code == 401
    long_lived = make_client_assertion(bank.private_pem, bank.account_id, bank.kid, AUD, lifetime=3600)
    r = _token_request(client, long_lived)
    assert r.status_code == 401 and "at most" in r.json()["detail"]


def test_expired_assertion_is_refused(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    key = serialization.load_pem_private_key(bank.private_pem.encode(), None)
    now = int(time.time())
    claims = {
        "iss": bank.account_id,
        "sub": bank.account_id,
        "aud": AUD,
        "iat": now - 600,
        "exp": now - 300,
        "jti": uuid.uuid4().hex,
    }
    expired = jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": bank.kid})  # type: ignore[arg-type]
    assert _token_request(client, expired).status_code == 401


def test_a_revoked_key_gets_no_token_and_its_tokens_stop_working(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    token = obtain_token(client, bank)
    with services.tx() as session:
        revoke_key(session, bank.account_id, bank.kid, "compromised")
    refused = _token_request(client, make_client_assertion(bank.private_pem, bank.account_id, bank.kid, AUD))
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    old = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert old.status_code == 401 and "revoked" in old.json()["detail"]


def test_key_rotation_by_the_institution(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    headers = auth(client, bank)
    new_private, new_public = generate_key_pair()
    new_key = client.post("/api/v1/me/keys", headers=headers, json={"public_key_pem": new_public})
    assert new_key.status_code == 201
    assert client.post(f"/api/v1/me/keys/{bank.kid}/revoke", headers=headers, json={}).status_code == 200
    r = _token_request(
        client, make_client_assertion(new_private, bank.account_id, new_key.json()["kid"], AUD)
    )
    assert r.status_code == 200


def test_ecdsa_p256_keys_work_too(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    private = ec.generate_private_key(ec.SECP256R1())
    pem_pub = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    pem_priv = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with services.tx() as session:
        key = register_key(session, bank.account_id, pem_pub)
    assert key.algorithm == "ES256"
    r = _token_request(client, make_client_assertion(pem_priv, bank.account_id, key.kid, AUD))
    assert r.status_code == 200


def test_borrower_password_login(client, services) -> None:  # type: ignore[no-untyped-def]
    import random

    from fincredit.consent.identifiers import generate_resident_id

    rid = generate_resident_id(random.Random(uuid.uuid4().int), "330203")
    username = unique("borrower")
    with services.tx() as session:
        subject = register_subject(session, services.keyring, rid, "张小明")
        create_borrower_account(
            session,
            services.authz,
            username=username,
            real_name="张小明",
            password="correct horse battery",
            subject_id=subject.id,
        )
    bad = client.post("/api/v1/auth/login", json={"username": username, "password": "wrong password!"})
    assert bad.status_code == 401 and bad.json()["detail"].startswith("wrong username or password")
    good = client.post("/api/v1/auth/login", json={"username": username, "password": "correct horse battery"})
    assert good.status_code == 200
    mine = client.get(
        "/api/v1/me/subject", headers={"Authorization": f"Bearer {good.json()['access_token']}"}
    )
    assert mine.status_code == 200 and mine.json()["identifier"] == rid and mine.json()["masked"] is False
