"""The platform's key material: AES-GCM data key, blind-index HMAC key, Ed25519 signing key.

In production all three come from settings (a secrets manager fills the environment). In
development they are generated once under ``<var_dir>/keys`` so that restarts keep data readable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fincredit.platform.core.settings import Settings

log = logging.getLogger(__name__)
_NONCE = 12


@dataclass(frozen=True)
class Keyring:
    data_key: bytes
    index_key: bytes
    signing_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.signing_key.public_key()

    @property
    def public_key_pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    @property
    def public_key_raw(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def encrypt(self, plaintext: str, *, context: str) -> bytes:
        """AES-256-GCM; ``context`` is bound as associated data so a ciphertext cannot be moved
        to another column or subject kind without failing to decrypt."""
        nonce = os.urandom(_NONCE)
        return nonce + AESGCM(self.data_key).encrypt(nonce, plaintext.encode(), context.encode())

    def decrypt(self, blob: bytes, *, context: str) -> str:
        return AESGCM(self.data_key).decrypt(blob[:_NONCE], blob[_NONCE:], context.encode()).decode()

    def blind_index(self, value: str, *, context: str) -> str:
        """Keyed hash for equality lookups on encrypted columns (a plain hash of an 18-character ID
        with a known structure could be brute-forced; an HMAC with a secret key cannot)."""
        return hmac.new(self.index_key, f"{context}\x00{value}".encode(), hashlib.sha256).hexdigest()


def _b64key(secret: str, name: str) -> bytes:
    key = base64.b64decode(secret)
    if len(key) != 32:
        raise ValueError(f"FINCREDIT_{name.upper()} must be base64 of exactly 32 bytes")
    return key


def _dev_file(path: Path, make: bytes) -> bytes:
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(make)
    log.warning("generated development key %s; set FINCREDIT_* key settings in production", path)
    return make


def load_keyring(settings: Settings) -> Keyring:
    keys_dir = settings.var_dir / "keys"
    if settings.data_key is not None:
        data_key = _b64key(settings.data_key.get_secret_value(), "data_key")
    else:
        data_key = base64.b64decode(_dev_file(keys_dir / "data.key", base64.b64encode(os.urandom(32))))
    if settings.index_key is not None:
        index_key = _b64key(settings.index_key.get_secret_value(), "index_key")
    else:
        index_key = base64.b64decode(_dev_file(keys_dir / "index.key", base64.b64encode(os.urandom(32))))
    if settings.signing_key_file is not None:
        pem = settings.signing_key_file.read_bytes()
    else:
        fresh = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        pem = _dev_file(keys_dir / "platform_ed25519.pem", fresh)
    signing_key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(signing_key, Ed25519PrivateKey):
        raise ValueError("the platform signing key must be Ed25519")
    return Keyring(data_key=data_key, index_key=index_key, signing_key=signing_key)
