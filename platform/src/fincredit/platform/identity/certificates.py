"""The platform's own small certificate authority for institution staff (R§18: 用户账号+数字证书).

Staff sign in to the web pages with their password *and* a client certificate this CA issued. The TLS
handshake proves the browser holds the certificate's private key: either uvicorn does it (``serve`` with
``FINCREDIT_TLS_CERT_FILE``; the certificate reaches the app through the ASGI TLS extension, see
:mod:`fincredit.platform.identity.tls`) or a reverse proxy does it and passes the verified certificate in a
header believed only from ``FINCREDIT_TRUSTED_PROXIES``. The sign-in then checks again that this CA signed
it, that it is in its validity, issued to the account signing in, and not revoked here.

The CA's key lives with the platform's other keys: ``FINCREDIT_STAFF_CA_KEY_FILE``/``_CERT_FILE`` in
production, generated once under ``<var_dir>/keys`` (mode 0600) otherwise.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from fincredit.platform.core.db import Account, Organisation, utcnow
from fincredit.platform.core.errors import InvalidInput, NotFound, Unauthenticated
from fincredit.platform.core.settings import Settings
from fincredit.platform.identity.kinds import AccountKind
from fincredit.platform.identity.tables import StaffCertificate

CA_NAME = "fincredit staff CA"
CLIENT_DAYS = 365
CA_DAYS = 3650


@dataclass(frozen=True)
class StaffCA:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_path: Path

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()


@dataclass(frozen=True)
class IssuedCertificate:
    serial: str
    certificate_pem: str
    private_key_pem: str | None  # None when the holder sent only a public key
    not_after: dt.datetime

    def pkcs12(self, ca: StaffCA, password: str) -> bytes:
        """The certificate, its key and the CA as a password-protected PKCS#12 file, as browsers import."""
        if self.private_key_pem is None:
            raise InvalidInput("no private key here to bundle: the holder kept theirs")
        key = serialization.load_pem_private_key(self.private_key_pem.encode(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return pkcs12.serialize_key_and_certificates(
            self.serial.encode(),
            key,
            x509.load_pem_x509_certificate(self.certificate_pem.encode()),
            [ca.certificate],
            serialization.BestAvailableEncryption(password.encode()),
        )


def _write_once(path: Path, data: bytes) -> bytes:
    """Write ``data`` unless another process got there first; return what the file holds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return data


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _self_signed(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    now = utcnow()
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


@lru_cache(maxsize=8)
def _load_ca(key_path: Path, cert_path: Path, generate: bool) -> StaffCA:
    if generate:
        key_pem = _write_once(key_path, _pem_key(ec.generate_private_key(ec.SECP256R1())))
    else:
        key_pem = key_path.read_bytes()
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the staff CA key must be an ECDSA key")
    if generate:
        cert_pem = _write_once(cert_path, _self_signed(key).public_bytes(serialization.Encoding.PEM))
    else:
        cert_pem = cert_path.read_bytes()
    certificate = x509.load_pem_x509_certificate(cert_pem)
    if certificate.public_key() != key.public_key():
        raise ValueError(f"{cert_path} is not the certificate of the staff CA key {key_path}")
    return StaffCA(certificate, key, cert_path)


def load_staff_ca(settings: Settings) -> StaffCA:
    if settings.staff_ca_key_file is not None and settings.staff_ca_cert_file is not None:
        return _load_ca(settings.staff_ca_key_file, settings.staff_ca_cert_file, False)
    keys = (settings.var_dir / "keys").resolve()
    return _load_ca(keys / "staff_ca.key", keys / "staff_ca.pem", True)


def _fingerprint(certificate: x509.Certificate) -> str:
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def _leaf(
    ca: StaffCA,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    days: int,
    usage: x509.ObjectIdentifier,
    names: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = utcnow()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca.key, hashes.SHA256())


def issue_client_certificate(
    session: Session,
    ca: StaffCA,
    username: str,
    *,
    days: int = CLIENT_DAYS,
    public_key_pem: str | None = None,
) -> IssuedCertificate:
    """A client certificate for an institution account's holder. A fresh P-256 key is made here unless the
    holder sends the public key of one they made themselves (then the private key never leaves them)."""
    account = session.scalar(select(Account).where(Account.username == username))
    if account is None:
        raise NotFound(f"no account {username!r}")
    if account.kind != AccountKind.INSTITUTION.value or account.org_id is None:
        raise InvalidInput("certificates are for institution staff; borrowers sign in with their password")
    if not 1 <= days <= 3 * 365:
        raise InvalidInput("a staff certificate is valid for 1 to 1095 days")
    org = session.get(Organisation, account.org_id)
    private_pem: str | None = None
    if public_key_pem is None:
        private = ec.generate_private_key(ec.SECP256R1())
        public = private.public_key()
        private_pem = _pem_key(private).decode()
    else:
        try:
            loaded = serialization.load_pem_public_key(public_key_pem.encode())
        except ValueError:
            raise InvalidInput("the key is not a PEM-encoded public key") from None
        if not isinstance(loaded, ec.EllipticCurvePublicKey):
            raise InvalidInput("staff certificates carry ECDSA keys")
        public = loaded
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, account.username),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, (org.name if org else account.org_id)[:64]),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, account.org_id),
            x509.NameAttribute(NameOID.USER_ID, account.id),
        ]
    )
    certificate = _leaf(ca, subject, public, days, ExtendedKeyUsageOID.CLIENT_AUTH)
    serial = format(certificate.serial_number, "x")
    session.add(
        StaffCertificate(
            serial=serial,
            account_id=account.id,
            fingerprint=_fingerprint(certificate),
            subject=certificate.subject.rfc4514_string()[:300],
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
        )
    )
    session.flush()
    return IssuedCertificate(
        serial,
        certificate.public_bytes(serialization.Encoding.PEM).decode(),
        private_pem,
        certificate.not_valid_after_utc,
    )


def issue_server_certificate(ca: StaffCA, hosts: list[str], *, days: int = 397) -> tuple[str, str]:
    """(certificate PEM, key PEM) for ``serve``'s own HTTPS listener, for a demonstration or a private
    deployment: browsers that trust the staff CA then trust the server too."""
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    certificate = _leaf(ca, subject, key.public_key(), days, ExtendedKeyUsageOID.SERVER_AUTH, names)
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key).decode()


def revoke_certificate(session: Session, serial: str, reason: str = "revoked") -> StaffCertificate:
    row = session.get(StaffCertificate, serial.lower())
    if row is None:
        raise NotFound(f"no staff certificate {serial!r}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        row.revoked_reason = reason[:200]
    return row


def list_certificates(session: Session, account_id: str | None = None) -> list[StaffCertificate]:
    query = select(StaffCertificate).order_by(StaffCertificate.issued_at)
    if account_id is not None:
        query = query.where(StaffCertificate.account_id == account_id)
    return list(session.scalars(query))


def parse_certificate(text: str) -> x509.Certificate | None:
    """A certificate as a proxy passes it: URL-escaped PEM (nginx ``$ssl_client_escaped_cert``), PEM with its
    newlines folded into spaces, or bare base64 DER; None for anything else."""
    text = unquote(text).strip()
    if not text:
        return None
    try:
        if text.startswith("-----BEGIN CERTIFICATE-----"):
            body = text.removeprefix("-----BEGIN CERTIFICATE-----").removesuffix("-----END CERTIFICATE-----")
            pem = "-----BEGIN CERTIFICATE-----\n" + "\n".join(body.split()) + "\n-----END CERTIFICATE-----\n"
            return x509.load_pem_x509_certificate(pem.encode())
        return x509.load_der_x509_certificate(base64.b64decode("".join(text.split()), validate=True))
    except ValueError:
        return None


def presented_certificate(connection: HTTPConnection, settings: Settings) -> x509.Certificate | None:
    """The client certificate of this request's TLS handshake: from the ASGI TLS extension when uvicorn
    terminated TLS, else from the proxy's header when the request comes from a trusted proxy. A header from
    anyone else is ignored: a certificate is public, only the handshake proves its key is held."""
    tls = connection.scope.get("extensions", {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    if chain:
        return parse_certificate(str(chain[0]))
    client = connection.client
    if client is not None and client.host in settings.trusted_proxies:
        value = connection.headers.get(settings.client_cert_header)
        if value:
            return parse_certificate(value)
    return None


def certificate_holder(
    session: Session, ca: StaffCA, certificate: x509.Certificate, now: dt.datetime | None = None
) -> StaffCertificate:
    """The issued-certificate record of a presented certificate, after checking the CA's signature, the
    validity and revocation; :class:`Unauthenticated` otherwise."""
    try:
        certificate.verify_directly_issued_by(ca.certificate)
    except (ValueError, TypeError, InvalidSignature):
        raise Unauthenticated("the certificate was not issued by the platform's staff CA") from None
    now = now or utcnow()
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise Unauthenticated("the certificate is outside its validity")
    row = session.scalar(
        select(StaffCertificate).where(StaffCertificate.fingerprint == _fingerprint(certificate))
    )
    if row is None:
        raise Unauthenticated("the certificate is not on the platform's register")
    if row.revoked_at is not None:
        raise Unauthenticated("the certificate was revoked")
    return row


def describe(certificate: x509.Certificate) -> str:
    """Who a certificate names, for the login page: the common name and organisation."""
    parts = [
        a.value
        for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME)
        for a in certificate.subject.get_attributes_for_oid(oid)
    ]
    return " · ".join(str(p) for p in parts)


__all__ = [
    "IssuedCertificate",
    "StaffCA",
    "certificate_holder",
    "describe",
    "issue_client_certificate",
    "issue_server_certificate",
    "list_certificates",
    "load_staff_ca",
    "parse_certificate",
    "presented_certificate",
    "revoke_certificate",
]
