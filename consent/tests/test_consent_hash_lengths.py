"""Every verifier checks a hash's length before comparing it: an empty or short hash is refused by name."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from fincredit.consent import (
    Checkpoint,
    CheckpointError,
    EntryType,
    ExportBatch,
    InclusionProof,
    Ledger,
    LedgerEntry,
    LedgerError,
    NoteSigner,
    ProofError,
    leaf_hash,
    open_checkpoint,
    read_export,
    verify_consistency,
    verify_inclusion,
    verify_log,
)


def ledger(n: int = 5) -> Ledger:
    out = Ledger()
    out.append_many(
        [
            LedgerEntry(seq=i, type=EntryType.REFUSAL, at="2026-03-02T09:00:00.000000Z", actor="a")
            for i in range(n)
        ]
    )
    return out


def test_an_empty_or_short_root_is_refused_before_any_comparison():
    log = ledger()
    proof = log.inclusion_proof(2)
    with pytest.raises(ProofError, match="the root hash is 32 bytes, got 0"):
        proof.verify(b"")
    with pytest.raises(ProofError, match="the root hash is 32 bytes, got 0"):
        verify_inclusion(proof.leaf_hash, 2, 5, proof.hashes, b"")
    root = log.tree.root()
    with pytest.raises(ProofError, match="the old root hash is 32 bytes, got 31"):
        verify_consistency(3, 5, root[:31], root, log.consistency_proof(3).hashes)
    with pytest.raises(ProofError, match="the new root hash is 32 bytes, got 0"):
        log.consistency_proof(5).verify(root, b"")


def test_a_proof_document_with_a_short_hash_is_refused_when_read():
    doc = ledger().inclusion_proof(1).to_json()
    doc["hashes"][1] = doc["hashes"][1][:-2]
    with pytest.raises(ProofError, match=r"hashes\[1\] is 32 bytes, got 31"):
        InclusionProof.from_json(doc)
    doc = ledger().inclusion_proof(1).to_json()
    doc["leaf_hash"] = ""
    with pytest.raises(ProofError, match="the leaf hash is 32 bytes, got 0"):
        InclusionProof.from_json(doc)


def test_a_checkpoint_with_an_empty_root_or_a_short_signature_is_refused():
    signer = NoteSigner.generate("ledger.example/consent")
    with pytest.raises(CheckpointError, match="a root hash is 32 bytes, this one 0"):
        Checkpoint.parse_body("ledger.example/consent\n5\n\n")
    body = Checkpoint("ledger.example/consent", 5, bytes(32)).body()
    short = base64.b64encode(signer.key_id + bytes(10)).decode()
    with pytest.raises(CheckpointError, match="is 10 bytes, an Ed25519 signature 64"):
        open_checkpoint(f"{body}\n\u2014 ledger.example/consent {short}\n", signer.verifier)


def test_an_export_row_with_a_short_leaf_hash_is_refused(tmp_path: Path):
    path = tmp_path / "log.jsonl"
    path.write_text(json.dumps({"seq": 0, "entry": "{}", "leaf_hash": ""}) + "\n")
    with pytest.raises(LedgerError, match=r"log\.jsonl:1: .*the leaf hash is 0 bytes"):
        list(read_export(path))
    entry = b"{}"
    batch = ExportBatch([0, 1], [entry, entry], [leaf_hash(entry), leaf_hash(entry)[:16]])
    report = verify_log([batch], [])
    assert not report.ok
    assert "entry seq 1: the stored leaf hash is 16 bytes, not 32" in "\n".join(report.lines())
