"""Signed tree heads: C2SP ``tlog-checkpoint`` bodies in C2SP ``signed-note`` envelopes, Ed25519.

A checkpoint body is::

    <origin>\\n<tree size, decimal>\\n<root hash, standard base64>\\n[<extension line>\\n ...]

and the signed note appends a blank line and one signature line per signer::

    — <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>

with the key id the first 4 bytes of SHA-256(key name || 0x0A || 0x01 || 32-byte public key) (0x01 is the
Ed25519 signature type). The signature covers the body including its final newline. Verifier keys are
shared in the Go ``sumdb/note`` text form ``<name>+<hex key id>+<base64(0x01 || public key)>``.

:class:`CheckpointIssuer` never signs a tree head that is not an append-only extension of the last one it
signed: it checks an RFC 9162 consistency proof computed from the store against the old signed root first.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fincredit.consent.errors import CheckpointError, InconsistentCheckpointError, ProofError
from fincredit.consent.merkle import HASH_SIZE, verify_consistency
from fincredit.consent.tree import MerkleTree

__all__ = [
    "Checkpoint",
    "CheckpointIssuer",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "key_id",
    "open_checkpoint",
    "open_note",
    "parse_signed_note",
    "sign_checkpoint",
]

_ED25519 = 0x01
_DASH = "\u2014 "
_MAX_SIGNATURES = 100


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([_ED25519]) + public_key).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise CheckpointError(f"key name {name!r} must be non-empty, without spaces or '+'")


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclasses.dataclass(frozen=True, slots=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        return f"{_DASH}{self.name} {base64.b64encode(self.key_id + self.signature).decode()}\n"


def parse_vkey(vkey: str, key_type: int, what: str, kind: str) -> tuple[str, Ed25519PublicKey, bytes]:
    """``<name>+<hex key id>+<base64(type || Ed25519 public key)>`` as (name, key, key id), the key of
    type ``key_type`` (signed-note keys and witness cosignature keys differ only there). The caller checks
    that the key id is the one its key type derives from the name and key."""
    try:
        name, hex_id, b64 = vkey.strip().split("+", 2)
        raw = base64.b64decode(b64, validate=True)
        kid = bytes.fromhex(hex_id)
    except (ValueError, binascii.Error) as exc:
        raise CheckpointError(f"not a {what}: {vkey.strip()[:60]!r}") from exc
    if len(raw) != 33 or raw[0] != key_type:
        raise CheckpointError(f"the {what} is not {kind}")
    if len(kid) != 4:
        raise CheckpointError(f"{what} {name}: a key id is 4 bytes, got {len(kid)}")
    return name, Ed25519PublicKey.from_public_bytes(raw[1:]), kid


class NoteVerifier:
    """Verifies signed-note signatures of one named Ed25519 key."""

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        _check_name(name)
        self.name = name
        self.public_key = public_key
        self.key_id = key_id(name, _raw_public(public_key))

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        """Parse ``<name>+<hex key id>+<base64(0x01 || public key)>``."""
        name, public_key, kid = parse_vkey(vkey, _ED25519, "verifier key", "an Ed25519 key")
        verifier = cls(name, public_key)
        if verifier.key_id != kid:
            raise CheckpointError(f"verifier key {name}: key id {kid.hex()} does not match the key")
        return verifier

    def vkey(self) -> str:
        raw = bytes([_ED25519]) + _raw_public(self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(raw).decode()}"

    def verifies(self, body: str, sig: NoteSignature) -> bool:
        if sig.name != self.name or len(sig.key_id) != 4 or sig.key_id != self.key_id:
            return False
        if len(sig.signature) != 64:
            return False
        try:
            self.public_key.verify(sig.signature, body.encode())
        except InvalidSignature:
            return False
        return True


class NoteSigner:
    """Signs notes with one named Ed25519 key (the platform's ledger key)."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        _check_name(name)
        self.name = name
        self.private_key = private_key
        self.verifier = NoteVerifier(name, private_key.public_key())
        self.key_id = self.verifier.key_id

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        return cls(name, Ed25519PrivateKey.generate())

    def sign(self, body: str) -> NoteSignature:
        return NoteSignature(self.name, self.key_id, self.private_key.sign(body.encode()))


def parse_signed_note(text: str) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its body (with final newline) and its syntactically valid signatures."""
    split = text.rfind("\n\n")
    if split < 0:
        raise CheckpointError("not a signed note: no blank line before the signatures")
    body, sig_text = text[: split + 1], text[split + 2 :]
    if not sig_text.endswith("\n"):
        raise CheckpointError("a signed note ends with a newline")
    lines = sig_text[:-1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise CheckpointError("too many signatures on the note")
    sigs = []
    for line in lines:
        if not line.startswith(_DASH):
            raise CheckpointError(f"malformed signature line {line[:60]!r} (it starts with an em dash)")
        try:
            name, b64 = line[len(_DASH) :].split(" ")
            raw = base64.b64decode(b64, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise CheckpointError(f"malformed signature line {line[:60]!r}") from exc
        if len(raw) < 5:
            raise CheckpointError(f"signature line for {name} is too short")
        sigs.append(NoteSignature(name, raw[:4], raw[4:]))
    if not sigs:
        raise CheckpointError("the note carries no signature")
    return body, sigs


def open_note(text: str, verifiers: list[NoteVerifier]) -> str:
    """The body of the note if some known key signed it; a failing known-key signature rejects it all."""
    body, sigs = parse_signed_note(text)
    verified = False
    for sig in sigs:
        for v in verifiers:
            if sig.name == v.name and sig.key_id == v.key_id:
                if len(sig.signature) != 64:
                    raise CheckpointError(
                        f"the signature by {v.name} is {len(sig.signature)} bytes, an Ed25519 signature 64"
                    )
                if not v.verifies(body, sig):
                    raise CheckpointError(f"the signature by {v.name} ({v.key_id.hex()}) does not verify")
                verified = True
    if not verified:
        names = sorted({s.name + "/" + s.key_id.hex() for s in sigs})
        raise CheckpointError(f"no signature by a trusted key (the note is signed by {names})")
    return body


@dataclasses.dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head: the log's origin, its size and its root hash, plus optional extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise CheckpointError("the origin is one non-empty line")
        if self.size < 0:
            raise CheckpointError("a tree size is not negative")
        if len(self.root_hash) != HASH_SIZE:
            raise CheckpointError(f"a root hash is {HASH_SIZE} bytes, this one {len(self.root_hash)}")
        for ext in self.extensions:
            if not ext or "\n" in ext:
                raise CheckpointError("extension lines are non-empty single lines")

    def body(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode(), *self.extensions]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse_body(cls, body: str) -> Checkpoint:
        if not body.endswith("\n"):
            raise CheckpointError("a checkpoint body ends with a newline")
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError("a checkpoint has an origin, a size and a root hash line")
        origin, size_line, root_line, *ext = lines
        if not size_line.isdigit() or (size_line != "0" and size_line.startswith("0")):
            raise CheckpointError(f"the tree size {size_line!r} is not a decimal number")
        try:
            root = base64.b64decode(root_line, validate=True)
        except binascii.Error as exc:
            raise CheckpointError(f"the root hash {root_line!r} is not base64") from exc
        return cls(origin, int(size_line), root, tuple(ext))


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> str:
    body = checkpoint.body()
    return body + "\n" + signer.sign(body).line()


def open_checkpoint(
    text: str, verifier: NoteVerifier | list[NoteVerifier], origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint and return it; optionally insist on the log's origin."""
    verifiers = verifier if isinstance(verifier, list) else [verifier]
    checkpoint = Checkpoint.parse_body(open_note(text, verifiers))
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(f"checkpoint is for log {checkpoint.origin!r}, not {origin!r}")
    return checkpoint


class CheckpointIssuer:
    """Signs tree heads of one log, each consistent with the previous one it signed."""

    def __init__(self, origin: str, signer: NoteSigner, tree: MerkleTree, last: Checkpoint | None = None):
        self.origin = origin
        self.signer = signer
        self.tree = tree
        self.last = last

    def issue(self, size: int | None = None, extensions: tuple[str, ...] = ()) -> str:
        """Sign the head at ``size`` (default: the whole tree) after checking it extends the last one."""
        size = self.tree.size if size is None else size
        root = self.tree.root(size)
        last = self.last
        if last is not None:
            if size < last.size:
                raise InconsistentCheckpointError(
                    f"tree size {size} is smaller than the last signed size {last.size}"
                )
            try:
                proof = self.tree.consistency_proof(last.size, size)
                verify_consistency(last.size, size, last.root_hash, root, proof)
            except ProofError as exc:
                raise InconsistentCheckpointError(
                    f"the tree at size {size} does not extend the signed head of size {last.size}: {exc}"
                ) from exc
        checkpoint = Checkpoint(self.origin, size, root, extensions)
        self.last = checkpoint
        return sign_checkpoint(checkpoint, self.signer)

    def issue_if_due(self, every: int) -> str | None:
        """Sign a new head once ``every`` entries have been appended since the last one, else None."""
        if every < 1:
            raise ValueError("every must be positive")
        size = self.tree.size
        if size - (self.last.size if self.last is not None else 0) < every:
            return None
        return self.issue(size)
