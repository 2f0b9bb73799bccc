"""Witnesses: outside parties that co-sign the ledger's checkpoints, so every reader sees the same tree.

Two C2SP specifications, on the checkpoints the ledger already signs (``tlog-checkpoint`` in a
``signed-note``):

``tlog-cosignature`` (v1, Ed25519)
    A cosignature is a note signature line ``— <witness name> base64(key id || timestamp || signature)``:
    the key id is SHA-256(name || 0x0A || 0x04 || 32-byte public key)[:4], the timestamp a big-endian u64
    of POSIX seconds, and the Ed25519 signature covers ``cosignature/v1\\ntime <timestamp>\\n`` followed by
    the whole checkpoint body. It states that, at that time, this was the largest tree the witness had seen
    for that log and that it is consistent with everything the witness saw before. Witness keys are shared
    as verifier keys ``<name>+<hex key id>+base64(0x04 || public key)``.

``tlog-witness`` (the ``add-checkpoint`` HTTP call)
    The log POSTs ``old <size>\\n``, the consistency proof from that size as base64 lines, a blank line and
    the signed checkpoint. The witness answers 404 for an unknown log, 403 when no trusted log key signed
    it, 400 for a malformed request or an old size above the new one, 409 (``text/x.tlog.size`` body: the
    size it holds) when the old size is not the size it last co-signed or when a checkpoint of that same
    size has another root, 422 when the proof does not verify; otherwise it records the new checkpoint
    (atomically with the check) and answers 200 with its cosignature line.

So a witness never co-signs two trees of one log that do not extend each other: a log that shows one
party one tree and another party a different tree of the same size (a split view) gets the second one
refused, and a reader who insists on a quorum of known witnesses (:class:`WitnessPolicy`) cannot be shown
it. A refused request that the log did sign is kept (the witness's evidence table): it is the log's own
signed proof of misbehaviour.

:class:`Witness` is the protocol over a :class:`SqliteWitnessState` (SQLite: a small file that survives
restarts); :func:`witness_app` serves it over HTTP (ASGI, run by uvicorn: ``fincredit-consent witness
serve``); :class:`WitnessClient` is the log's side.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import http.client
import sqlite3
import struct
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fincredit.consent.checkpoint import (
    Checkpoint,
    NoteSignature,
    NoteVerifier,
    open_note,
    parse_signed_note,
    parse_vkey,
)
from fincredit.consent.errors import CheckpointError, ProofError
from fincredit.consent.merkle import EMPTY_ROOT, HASH_SIZE, verify_consistency

__all__ = [
    "CosignatureSigner",
    "CosignatureVerifier",
    "SqliteWitnessState",
    "Witness",
    "WitnessClient",
    "WitnessConflictError",
    "WitnessCosignature",
    "WitnessError",
    "WitnessPolicy",
    "WitnessReply",
    "add_checkpoint_body",
    "cosign_checkpoint",
    "cosignature_key_id",
    "witness_app",
]

_COSIGNATURE = 0x04
_HEADER = "cosignature/v1\n"
_SIZE_TYPE = "text/x.tlog.size"
_MAX_PROOF_LINES = 63
_MAX_REQUEST = 64 * 1024
_SIG = 64


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def cosignature_key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([_COSIGNATURE]) + public_key).digest()[:4]


def _message(body: str, timestamp: int) -> bytes:
    return f"{_HEADER}time {timestamp}\n{body}".encode()


@dataclasses.dataclass(frozen=True, slots=True)
class WitnessCosignature:
    """A verified cosignature: which witness, and when it co-signed."""

    name: str
    key_id: bytes
    timestamp: int


class CosignatureVerifier:
    """Verifies ``cosignature/v1`` lines of one named witness key."""

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        NoteVerifier(name, public_key)  # the same rules for the name
        self.name = name
        self.public_key = public_key
        self.key_id = cosignature_key_id(name, _raw_public(public_key))

    @classmethod
    def from_vkey(cls, vkey: str) -> CosignatureVerifier:
        """Parse ``<name>+<hex key id>+<base64(0x04 || public key)>``."""
        name, public_key, kid = parse_vkey(
            vkey, _COSIGNATURE, "witness verifier key", "an Ed25519 cosignature/v1 key (type 0x04)"
        )
        verifier = cls(name, public_key)
        if verifier.key_id != kid:
            raise CheckpointError(f"witness key {name}: key id {kid.hex()} does not match the key")
        return verifier

    def vkey(self) -> str:
        raw = bytes([_COSIGNATURE]) + _raw_public(self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(raw).decode()}"

    def matches(self, sig: NoteSignature) -> bool:
        return sig.name == self.name and sig.key_id == self.key_id

    def verify(self, body: str, sig: NoteSignature) -> int:
        """The cosignature's timestamp if it is this witness's valid cosignature of ``body``."""
        if not self.matches(sig):
            raise CheckpointError(f"not a cosignature by {self.name}")
        if len(sig.signature) != 8 + _SIG:
            raise CheckpointError(
                f"a cosignature by {self.name} is {8 + _SIG} bytes after its key id, got {len(sig.signature)}"
            )
        (timestamp,) = struct.unpack(">Q", sig.signature[:8])
        if timestamp >= 2**63:
            raise CheckpointError(f"the cosignature by {self.name} has an impossible timestamp")
        try:
            self.public_key.verify(sig.signature[8:], _message(body, timestamp))
        except InvalidSignature as exc:
            raise CheckpointError(
                f"the cosignature by {self.name} ({self.key_id.hex()}) does not verify"
            ) from exc
        return int(timestamp)


class CosignatureSigner:
    """A witness's Ed25519 key, signing ``cosignature/v1`` lines."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self.verifier = CosignatureVerifier(name, private_key.public_key())
        self.name = name
        self.private_key = private_key
        self.key_id = self.verifier.key_id

    @classmethod
    def generate(cls, name: str) -> CosignatureSigner:
        return cls(name, Ed25519PrivateKey.generate())

    def cosign(self, body: str, timestamp: int | None = None) -> NoteSignature:
        timestamp = int(time.time()) if timestamp is None else timestamp
        signature = self.private_key.sign(_message(body, timestamp))
        return NoteSignature(self.name, self.key_id, struct.pack(">Q", timestamp) + signature)


@dataclasses.dataclass(frozen=True, slots=True)
class WitnessPolicy:
    """Which witnesses a reader trusts, and how many of them must have co-signed a checkpoint."""

    witnesses: Sequence[CosignatureVerifier]
    quorum: int
    # Reject cosignatures dated more than this many seconds in the future (None: do not look at the clock).
    max_future: int | None = 300

    def __post_init__(self) -> None:
        if not 0 <= self.quorum <= len(self.witnesses):
            raise CheckpointError(f"a quorum of {self.quorum} out of {len(self.witnesses)} witnesses")

    def check(self, note: str, *, now: int | None = None) -> list[WitnessCosignature]:
        """The verified cosignatures of the trusted witnesses on ``note``; fewer than the quorum raises.

        Lines of unknown keys are ignored; a line by a trusted witness that does not verify rejects the
        checkpoint (it was altered, or someone forged it).
        """
        body, sigs = parse_signed_note(note)
        now = int(time.time()) if now is None else now
        found: dict[str, WitnessCosignature] = {}
        for sig in sigs:
            for w in self.witnesses:
                if w.matches(sig):
                    ts = w.verify(body, sig)
                    if self.max_future is not None and ts > now + self.max_future:
                        raise CheckpointError(f"the cosignature by {w.name} is dated in the future ({ts})")
                    found[w.vkey()] = WitnessCosignature(w.name, w.key_id, ts)
        if len(found) < self.quorum:
            names = sorted(c.name for c in found.values())
            raise CheckpointError(
                f"the checkpoint is co-signed by {len(found)} of the trusted witnesses {names or ''}, "
                f"the policy needs {self.quorum}"
            )
        return list(found.values())


# -- the witness -----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class WitnessReply:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


@dataclasses.dataclass(frozen=True, slots=True)
class _Held:
    size: int
    root: bytes
    checkpoint: str = ""


class SqliteWitnessState:
    """The witness's memory: per log origin the last co-signed size and root, in one SQLite file.

    Checking a request against the held size and recording the new one happen in one write transaction
    (``BEGIN IMMEDIATE``), so two concurrent requests cannot roll the held size back (the race the
    tlog-witness spec describes), even across processes sharing the file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a co-signed size must survive a crash
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS logs (origin TEXT PRIMARY KEY, size INTEGER NOT NULL, "
            "root BLOB NOT NULL, checkpoint TEXT NOT NULL, updated_at INTEGER NOT NULL)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS evidence (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, "
            "origin TEXT NOT NULL, status INTEGER NOT NULL, reason TEXT NOT NULL, request BLOB NOT NULL)"
        )

    def close(self) -> None:
        self._db.close()

    def held(self, origin: str) -> tuple[int, bytes] | None:
        row = self._db.execute("SELECT size, root FROM logs WHERE origin = ?", (origin,)).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def sizes(self) -> dict[str, int]:
        return {o: int(s) for o, s in self._db.execute("SELECT origin, size FROM logs")}

    def evidence(self, origin: str | None = None) -> list[tuple[int, str, int, str, bytes]]:
        q = "SELECT at, origin, status, reason, request FROM evidence"
        rows = self._db.execute(q + " WHERE origin = ? ORDER BY id" if origin else q + " ORDER BY id",
                                (origin,) if origin else ())  # fmt: skip
        return [(int(a), str(o), int(s), str(r), bytes(b)) for a, o, s, r, b in rows]

    def transaction(
        self, origin: str, step: Callable[[_Held | None], tuple[_Held | None, WitnessReply]]
    ) -> WitnessReply:
        """Run ``step`` on the held state of ``origin`` under the write lock; store what it returns."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT size, root FROM logs WHERE origin = ?", (origin,)).fetchone()
                held = None if row is None else _Held(int(row[0]), bytes(row[1]))
                new, reply = step(held)
                if new is not None:
                    db.execute(
                        "INSERT INTO logs (origin, size, root, checkpoint, updated_at) "
                        "VALUES (?, ?, ?, ?, ?) "
                        "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, "
                        "checkpoint = excluded.checkpoint, updated_at = excluded.updated_at",
                        (origin, new.size, new.root, new.checkpoint, int(time.time())),
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return reply

    def keep_evidence(self, origin: str, status: int, reason: str, request: bytes) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO evidence (at, origin, status, reason, request) VALUES (?, ?, ?, ?, ?)",
                (int(time.time()), origin, status, reason, request),
            )


def _text(status: int, message: str) -> WitnessReply:
    return WitnessReply(status, (message.rstrip("\n") + "\n").encode())


class Witness:
    """The ``add-checkpoint`` protocol: co-sign a checkpoint only if it extends the last one co-signed."""

    def __init__(
        self,
        signer: CosignatureSigner,
        logs: Mapping[str, Sequence[NoteVerifier]],
        state: SqliteWitnessState,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.signer = signer
        self.logs = {origin: list(keys) for origin, keys in logs.items()}
        self.state = state
        self.clock = clock

    def add_checkpoint(self, request: bytes) -> WitnessReply:
        try:
            old, proof, note = _parse_request(request)
            body, _ = parse_signed_note(note)
            checkpoint = Checkpoint.parse_body(body)
        except (CheckpointError, ValueError) as exc:
            return _text(400, f"malformed add-checkpoint request: {exc}")
        keys = self.logs.get(checkpoint.origin)
        if keys is None:
            return _text(404, f"unknown log {checkpoint.origin!r}")
        try:
            open_note(note, keys)
        except CheckpointError as exc:
            return _text(403, str(exc))
        if old > checkpoint.size:
            return _text(400, f"old size {old} is above the checkpoint's size {checkpoint.size}")

        def step(held: _Held | None) -> tuple[_Held | None, WitnessReply]:
            size = 0 if held is None else held.size
            if old != size:
                return None, WitnessReply(409, f"{size}\n".encode(), _SIZE_TYPE)
            if held is not None and checkpoint.size == held.size and checkpoint.root_hash != held.root:
                # Two trees of the same size: the split view this witness exists to refuse.
                return None, WitnessReply(409, f"{size}\n".encode(), _SIZE_TYPE)
            try:
                if old == 0:
                    if proof:
                        raise ProofError("a consistency proof from the empty tree is empty")
                    if checkpoint.size == 0 and checkpoint.root_hash != EMPTY_ROOT:
                        raise ProofError("the empty tree has another root")
                else:
                    assert held is not None
                    verify_consistency(old, checkpoint.size, held.root, checkpoint.root_hash, proof)
            except ProofError as exc:
                return None, _text(422, f"the consistency proof does not verify: {exc}")
            line = self.signer.cosign(body, int(self.clock())).line()
            cosigned = note + line
            return _Held(checkpoint.size, checkpoint.root_hash, cosigned), WitnessReply(200, line.encode())

        reply = self.state.transaction(checkpoint.origin, step)
        if reply.status in (409, 422):
            # Signed by the log and refused: the log's own proof that it showed someone another tree.
            self.state.keep_evidence(checkpoint.origin, reply.status, reply.body.decode()[:200], request)
        return reply


def _parse_request(request: bytes) -> tuple[int, list[bytes], str]:
    if len(request) > _MAX_REQUEST:
        raise ValueError("request too large")
    text = request.decode("utf-8")
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise ValueError("no blank line before the checkpoint")
    lines = head.split("\n")
    first = lines[0]
    if not first.startswith("old "):
        raise ValueError("the first line is 'old <size>'")
    size_text = first[4:]
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise ValueError(f"old size {size_text!r} is not a decimal without leading zeroes")
    if len(lines) - 1 > _MAX_PROOF_LINES:
        raise ValueError(f"more than {_MAX_PROOF_LINES} consistency proof lines")
    proof = []
    for line in lines[1:]:
        try:
            h = base64.b64decode(line, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"proof line {line[:60]!r} is not base64") from exc
        if len(h) != HASH_SIZE:
            raise ValueError(f"a proof hash is {HASH_SIZE} bytes, got {len(h)}")
        proof.append(h)
    return int(size_text), proof, note


def add_checkpoint_body(note: str, old_size: int, proof: Sequence[bytes]) -> bytes:
    """The body of an ``add-checkpoint`` request."""
    for h in proof:
        if len(h) != HASH_SIZE:
            raise ProofError(f"a proof hash is {HASH_SIZE} bytes, got {len(h)}")
    lines = [f"old {old_size}", *(base64.b64encode(h).decode() for h in proof)]
    return ("\n".join(lines) + "\n\n" + note).encode()


# -- HTTP ------------------------------------------------------------------------------------------------

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def witness_app(witness: Witness, *, prefix: str = "") -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The ASGI application serving ``POST <prefix>/add-checkpoint`` (and the witness's key at ``GET
    <prefix>/vkey``). Requests are handled one at a time on the event loop: each takes well under a
    millisecond, and the state's write lock would serialise them anyway."""
    add_path = prefix.rstrip("/") + "/add-checkpoint"
    vkey_path = prefix.rstrip("/") + "/vkey"
    vkey = (witness.signer.verifier.vkey() + "\n").encode()

    async def respond(send: Send, reply: WitnessReply) -> None:
        headers = [
            (b"content-type", reply.content_type.encode()),
            (b"content-length", str(len(reply.body)).encode()),
        ]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == vkey_path and method == "GET":
            await respond(send, WitnessReply(200, vkey))
            return
        if path != add_path:
            await respond(send, _text(404, "not found"))
            return
        if method != "POST":
            await respond(send, _text(405, "add-checkpoint is a POST"))
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > _MAX_REQUEST:
                await respond(send, _text(413, "request too large"))
                return
            if not message.get("more_body"):
                break
        await respond(send, witness.add_checkpoint(bytes(body)))

    return app


class WitnessError(CheckpointError):
    """A witness refused a checkpoint (or could not be reached)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class WitnessConflictError(WitnessError):
    """The witness holds another size for the log than the request's old size (HTTP 409)."""

    def __init__(self, message: str, known_size: int | None) -> None:
        super().__init__(message, 409)
        self.known_size = known_size


class WitnessClient:
    """The log's side of ``add-checkpoint``: one keep-alive HTTP connection to one witness."""

    def __init__(self, url: str, verifier: CosignatureVerifier, *, timeout: float = 5.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"not a witness URL: {url!r}")
        self.url = url
        self.verifier = verifier
        self._https = parsed.scheme == "https"
        self._host, self._port = parsed.hostname, parsed.port
        self._path = parsed.path.rstrip("/") + "/add-checkpoint"
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _post(self, body: bytes) -> tuple[int, str, bytes]:
        for attempt in (0, 1):
            if self._conn is None:
                cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
                self._conn = cls(self._host, self._port, timeout=self._timeout)
            try:
                self._conn.request("POST", self._path, body, {"Content-Type": "text/plain; charset=utf-8"})
                response = self._conn.getresponse()
                return response.status, response.getheader("Content-Type", ""), response.read()
            except (OSError, http.client.HTTPException) as exc:
                self.close()  # a kept-alive connection the server closed: one fresh retry
                if attempt:
                    raise WitnessError(f"witness {self.url} unreachable: {exc}") from exc
        raise AssertionError("unreachable")

    def add_checkpoint(self, note: str, old_size: int, proof: Sequence[bytes]) -> NoteSignature:
        """Submit a signed checkpoint with the consistency proof from ``old_size``; its verified cosignature.

        Raises :class:`WitnessConflictError` (with the size the witness holds) on 409, and
        :class:`WitnessError` on any other refusal or a reply that is not this witness's valid cosignature.
        """
        status, content_type, reply = self._post(add_checkpoint_body(note, old_size, proof))
        text = reply.decode("utf-8", "replace")
        if status == 409:
            known = text.strip()
            size = int(known) if content_type.startswith(_SIZE_TYPE) and known.isdigit() else None
            raise WitnessConflictError(f"witness {self.url} holds size {known} for this log", size)
        if status != 200:
            raise WitnessError(
                f"witness {self.url} refused the checkpoint ({status}): {text.strip()[:200]}", status
            )
        body, _ = parse_signed_note(note)
        for line in text.splitlines():
            try:
                _, sigs = parse_signed_note("x\n\n" + line + "\n")
            except CheckpointError:
                continue
            for sig in sigs:
                if self.verifier.matches(sig):
                    self.verifier.verify(body, sig)
                    return sig
        raise WitnessError(
            f"witness {self.url} answered without a valid cosignature by {self.verifier.name}", 200
        )


def cosign_checkpoint(
    client: WitnessClient,
    note: str,
    old_size: int,
    proof_from: Callable[[int], Sequence[bytes]],
) -> tuple[str, int]:
    """Have one witness co-sign ``note``: submit with the proof from ``old_size`` (the size the log believes
    the witness holds), and once more from the size the witness says it holds if that differs (a 409).

    Returns the note with the cosignature line appended and the size the witness now holds.
    ``proof_from(size)`` gives the consistency proof from ``size`` to the note's size.
    """
    try:
        sig = client.add_checkpoint(note, old_size, proof_from(old_size))
    except WitnessConflictError as exc:
        if exc.known_size is None or exc.known_size == old_size:
            raise
        sig = client.add_checkpoint(note, exc.known_size, proof_from(exc.known_size))
    body, _ = parse_signed_note(note)
    return note + sig.line(), Checkpoint.parse_body(body).size
