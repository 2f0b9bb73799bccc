"""Administration of organisations, accounts and keys. Every function runs inside the caller's
transaction (a Session), so an account and its role assignment are created together or not at all."""

from __future__ import annotations

import hashlib
import re
import uuid

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from sqlalchemy import select
from sqlalchemy.orm import Session

from fincredit.consent.identifiers import IdentifierError, validate_uscc
from fincredit.platform.core.authz import Authorizer
from fincredit.platform.core.db import Account, AccountKey, Organisation, utcnow
from fincredit.platform.core.errors import Conflict, InvalidInput, NotFound, identifier_problem
from fincredit.platform.identity.kinds import (
    BORROWER_DOMAIN,
    BORROWER_ROLE,
    DEFAULT_ROLE_BY_KIND,
    AccountKind,
    OrgKind,
)
from fincredit.platform.identity.passwords import hash_password

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{3,100}$")


def create_organisation(
    session: Session, *, org_id: str, kind: OrgKind | str, name: str, uscc: str | None = None
) -> Organisation:
    if not _SLUG.match(org_id):
        raise InvalidInput("organisation id: 2-63 lowercase letters, digits or '-', starting alphanumeric")
    try:
        kind = OrgKind(kind)
    except ValueError:
        raise InvalidInput(
            f"unknown organisation kind {kind!r}; one of {[k.value for k in OrgKind]}"
        ) from None
    if uscc is not None:
        try:
            uscc = validate_uscc(uscc)
        except IdentifierError as exc:
            raise identifier_problem(exc) from None
    if kind is OrgKind.DISTRICT_TEAM and uscc is None:
        # The district a team's boards may target is read from its registration, never from a form
        # field the team fills in itself.
        raise InvalidInput(
            "a district team is registered with its unified social credit code: the division code in it "
            "(characters 3-8) is the district its boards may target"
        )
    if session.get(Organisation, org_id) is not None:
        raise Conflict(f"organisation {org_id!r} already exists")
    org = Organisation(id=org_id, kind=kind.value, name=name.strip(), uscc=uscc)
    session.add(org)
    session.flush()
    return org


def get_organisation(session: Session, org_id: str) -> Organisation:
    org = session.get(Organisation, org_id)
    if org is None:
        raise NotFound(f"no organisation {org_id!r}")
    return org


def _check_new_account(session: Session, username: str, real_name: str, stated_use: str) -> None:
    if not _USERNAME.match(username):
        raise InvalidInput("username: 3-100 letters, digits or . _ @ -")
    if not real_name.strip():
        raise InvalidInput("a real-name account needs the holder's real name (R§18)")
    if not stated_use.strip():
        raise InvalidInput("an account needs a stated use (R§18)")
    if session.scalar(select(Account.id).where(Account.username == username)) is not None:
        raise Conflict(f"username {username!r} is taken")


def create_institution_account(
    session: Session,
    authz: Authorizer,
    *,
    org_id: str,
    username: str,
    real_name: str,
    stated_use: str,
) -> Account:
    org = get_organisation(session, org_id)
    _check_new_account(session, username, real_name, stated_use)
    account = Account(
        id="acc_" + uuid.uuid4().hex[:20],
        org_id=org.id,
        kind=AccountKind.INSTITUTION.value,
        username=username,
        real_name=real_name.strip(),
        stated_use=stated_use.strip(),
    )
    session.add(account)
    session.flush()
    authz.assign_role(session, account.id, DEFAULT_ROLE_BY_KIND[OrgKind(org.kind)], org.id)
    return account


def create_borrower_account(
    session: Session,
    authz: Authorizer,
    *,
    username: str,
    real_name: str,
    password: str,
    subject_id: int,
    stated_use: str = "manage authorizations of my credit information",
) -> Account:
    _check_new_account(session, username, real_name, stated_use)
    try:
        pw_hash = hash_password(password)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    account = Account(
        id="acc_" + uuid.uuid4().hex[:20],
        org_id=None,
        kind=AccountKind.BORROWER.value,
        username=username,
        real_name=real_name.strip(),
        stated_use=stated_use,
        password_hash=pw_hash,
        subject_id=subject_id,
    )
    session.add(account)
    session.flush()
    authz.assign_role(session, account.id, BORROWER_ROLE, BORROWER_DOMAIN)
    return account


def set_password(session: Session, username: str, password: str) -> Account:
    """Give an account a password for the web pages (institution staff sign in to the same pages
    borrowers use; the API keeps using private_key_jwt). Replaces any earlier password."""
    account = session.scalar(select(Account).where(Account.username == username))
    if account is None:
        raise NotFound(f"no account {username!r}")
    try:
        account.password_hash = hash_password(password)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    session.flush()
    return account


def get_account(session: Session, account_id: str) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(f"no account {account_id!r}")
    return account


_ALGORITHMS = {"EdDSA", "ES256", "RS256", "PS256"}


def _algorithm_for(public_key: object) -> str:
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "EdDSA"
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve, ec.SECP256R1):
        return "ES256"
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < 2048:
            raise InvalidInput("RSA keys must have at least 2048 bits")
        return "PS256"
    raise InvalidInput("supported keys: Ed25519, ECDSA P-256, RSA >= 2048 bits")


def register_key(session: Session, account_id: str, public_key_pem: str) -> AccountKey:
    account = get_account(session, account_id)
    if account.kind != AccountKind.INSTITUTION.value:
        raise InvalidInput("only institution accounts authenticate with keys")
    try:
        public_key = serialization.load_pem_public_key(public_key_pem.encode())
    except ValueError:
        raise InvalidInput("the key is not a PEM-encoded public key") from None
    algorithm = _algorithm_for(public_key)
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    fingerprint = hashlib.sha256(der).hexdigest()
    if session.scalar(select(AccountKey.kid).where(AccountKey.fingerprint == fingerprint)) is not None:
        raise Conflict("this public key is already registered")
    key = AccountKey(
        kid="key_" + fingerprint[:24],
        account_id=account.id,
        public_key_pem=public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
        algorithm=algorithm,
        fingerprint=fingerprint,
    )
    session.add(key)
    session.flush()
    return key


def revoke_key(session: Session, account_id: str, kid: str, reason: str = "revoked") -> AccountKey:
    key = session.get(AccountKey, kid)
    if key is None or key.account_id != account_id:
        raise NotFound(f"account {account_id!r} has no key {kid!r}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        key.revoked_reason = reason[:200]
    return key


def list_keys(session: Session, account_id: str) -> list[AccountKey]:
    return list(session.scalars(select(AccountKey).where(AccountKey.account_id == account_id)))


def generate_key_pair() -> tuple[str, str]:
    """(private PEM, public PEM) of a fresh Ed25519 key, for the CLI and the demo."""
    private = ed25519.Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


__all__ = [
    "create_borrower_account",
    "create_institution_account",
    "create_organisation",
    "generate_key_pair",
    "get_account",
    "get_organisation",
    "list_keys",
    "register_key",
    "revoke_key",
]
