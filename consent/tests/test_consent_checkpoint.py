"""Signed tree heads are C2SP checkpoints in signed notes, and a new one never contradicts an older one."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fincredit.consent import (
    Checkpoint,
    CheckpointError,
    CheckpointIssuer,
    InconsistentCheckpointError,
    InMemoryTreeStore,
    MerkleTree,
    NoteSigner,
    NoteVerifier,
    leaf_hash,
    open_checkpoint,
    parse_signed_note,
    sign_checkpoint,
)

ORIGIN = "ledger.fincredit.example/consent"
SEED = bytes(range(32))


@pytest.fixture
def signer() -> NoteSigner:
    return NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(SEED))


def test_the_body_is_origin_size_and_base64_root(signer):
    root = hashlib.sha256(b"root").digest()
    note = sign_checkpoint(Checkpoint(ORIGIN, 12, root), signer)
    body, sigs = parse_signed_note(note)
    assert body == f"{ORIGIN}\n12\n{base64.b64encode(root).decode()}\n"
    assert note.startswith(body + "\n\u2014 " + ORIGIN + " ")
    assert note.endswith("\n") and len(sigs) == 1


def test_the_key_id_is_the_c2sp_one(signer):
    public = signer.private_key.public_key().public_bytes_raw()
    expected = hashlib.sha256(ORIGIN.encode() + b"\n" + b"\x01" + public).digest()[:4]
    assert signer.key_id == expected
    sig = parse_signed_note(sign_checkpoint(Checkpoint(ORIGIN, 0, hashlib.sha256(b"").digest()), signer))[1][
        0
    ]
    assert sig.key_id == expected and len(sig.signature) == 64


def test_the_signature_covers_the_body_with_its_final_newline(signer):
    cp = Checkpoint(ORIGIN, 3, hashlib.sha256(b"x").digest(), ("extension line",))
    note = sign_checkpoint(cp, signer)
    body, (sig,) = parse_signed_note(note)
    signer.private_key.public_key().verify(sig.signature, body.encode())
    assert open_checkpoint(note, signer.verifier, ORIGIN) == cp


def test_a_verifier_key_string_round_trips(signer):
    vkey = signer.verifier.vkey()
    name, hex_id, b64 = vkey.split("+", 2)  # base64 may itself contain "+"
    assert name == ORIGIN and bytes.fromhex(hex_id) == signer.key_id and base64.b64decode(b64)[0] == 1
    again = NoteVerifier.from_vkey(vkey)
    assert again.key_id == signer.key_id
    with pytest.raises(CheckpointError, match="does not match"):
        NoteVerifier.from_vkey(f"{name}+00000000+{b64}")


def test_a_changed_checkpoint_does_not_verify(signer):
    note = sign_checkpoint(Checkpoint(ORIGIN, 5, hashlib.sha256(b"r").digest()), signer)
    forged = note.replace("\n5\n", "\n6\n", 1)
    with pytest.raises(CheckpointError, match="does not verify"):
        open_checkpoint(forged, signer.verifier)


def test_a_checkpoint_by_another_key_is_not_trusted(signer):
    other = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    note = sign_checkpoint(Checkpoint(ORIGIN, 5, hashlib.sha256(b"r").digest()), other)
    with pytest.raises(CheckpointError, match="no signature by a trusted key"):
        open_checkpoint(note, signer.verifier)


def test_extra_signatures_by_unknown_witnesses_are_ignored(signer):
    note = sign_checkpoint(Checkpoint(ORIGIN, 5, hashlib.sha256(b"r").digest()), signer)
    witness = NoteSigner("witness.example/w1", Ed25519PrivateKey.generate())
    cosigned = note + witness.sign(parse_signed_note(note)[0]).line()
    assert open_checkpoint(cosigned, signer.verifier).size == 5


def test_the_wrong_origin_is_refused(signer):
    note = sign_checkpoint(Checkpoint("other.example/log", 1, hashlib.sha256(b"r").digest()), signer)
    with pytest.raises(CheckpointError, match="not 'ledger"):
        open_checkpoint(note, signer.verifier, ORIGIN)


@pytest.mark.parametrize(
    "text",
    [
        "no blank line\n",
        f"{ORIGIN}\n1\nAAAA\n\n- {ORIGIN} AAAAAAAA\n",
        f"{ORIGIN}\n1\nAAAA\n\n\u2014 {ORIGIN} ###\n",
        f"{ORIGIN}\n01\n{base64.b64encode(bytes(32)).decode()}\n\n\u2014 {ORIGIN} AAAAAAAA\n",
    ],
)
def test_malformed_notes_are_refused(signer, text):
    with pytest.raises(CheckpointError):
        open_checkpoint(text, signer.verifier)


def test_the_issuer_signs_only_extensions_of_its_last_head(signer):
    tree = MerkleTree(InMemoryTreeStore())
    tree.append_many([leaf_hash(bytes([i])) for i in range(10)])
    issuer = CheckpointIssuer(ORIGIN, signer, tree)
    first = open_checkpoint(issuer.issue(), signer.verifier)
    tree.append_many([leaf_hash(bytes([i])) for i in range(10, 17)])
    second = open_checkpoint(issuer.issue(), signer.verifier)
    assert (first.size, second.size) == (10, 17)
    with pytest.raises(InconsistentCheckpointError, match="smaller"):
        issuer.issue(size=12)


def test_the_issuer_refuses_to_sign_over_a_rewritten_history(signer):
    tree = MerkleTree(InMemoryTreeStore())
    tree.append_many([leaf_hash(bytes([i])) for i in range(8)])
    signed = open_checkpoint(CheckpointIssuer(ORIGIN, signer, tree).issue(), signer.verifier)
    forked = MerkleTree(InMemoryTreeStore())
    forked.append_many([leaf_hash(bytes([i if i != 3 else 99])) for i in range(12)])
    with pytest.raises(InconsistentCheckpointError, match="does not extend the signed head of size 8"):
        CheckpointIssuer(ORIGIN, signer, forked, last=signed).issue()


def test_heads_are_signed_at_least_every_n_entries(signer):
    tree = MerkleTree(InMemoryTreeStore())
    issuer = CheckpointIssuer(ORIGIN, signer, tree)
    sizes = []
    for i in range(25):
        tree.append(leaf_hash(bytes([i])))
        note = issuer.issue_if_due(every=10)
        if note is not None:
            sizes.append(open_checkpoint(note, signer.verifier).size)
    assert sizes == [10, 20]
