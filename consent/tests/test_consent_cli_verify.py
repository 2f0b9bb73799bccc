"""`fincredit-consent verify`: an offline regulator catches altered entries, forgeries and forks."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from fincredit.consent import (
    AccessMode,
    AccessRequest,
    CheckpointIssuer,
    ExportRow,
    Ledger,
    LedgerEntry,
    NoteSigner,
    Purpose,
    Subject,
    SubjectIndexer,
    SubjectKind,
    decide,
    generate_uscc,
    leaf_hash,
    read_export,
    write_export,
)
from fincredit.consent.cli import app

ORIGIN = "ledger.fincredit.example/consent"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
runner = CliRunner()


def entries(n: int, *, twist_at: int | None = None) -> list[LedgerEntry]:
    """n refusal/disclosure entries; ``twist_at`` makes that one different (a forked history)."""
    rng = random.Random(3)
    indexer = SubjectIndexer(b"blind-index-key-0123456789abcdef")
    out = []
    for seq in range(n):
        subject = Subject(SubjectKind.LEGAL, generate_uscc(rng))
        req = AccessRequest(
            "91330200MA2BANK01X",
            subject,
            frozenset({"court.judgment"}),
            Purpose.LOAN_APPLICATION_ASSESSMENT,
            AccessMode.QUERY,
            account="bank-user-7" if seq != twist_at else "someone-else",
        )
        at = T0 + dt.timedelta(seconds=seq)
        out.append(LedgerEntry.access(seq, at, req, decide([], req, at), indexer, route="/v1/query"))
    return out


class World:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
        self.signer = NoteSigner(ORIGIN, self.key)
        self.ledger = Ledger()
        self.ledger.append_many(entries(120))
        issuer = CheckpointIssuer(ORIGIN, self.signer, self.ledger.tree)
        self.cp100 = self.write("cp100.txt", issuer.issue(100))
        self.ledger.append_many(entries(200)[120:])
        self.cp200 = self.write("cp200.txt", issuer.issue())
        self.vkey = self.signer.verifier.vkey()
        self.pem = self.write(
            "platform.pem",
            self.key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode(),
        )
        self.parquet = tmp / "ledger.parquet"
        self.jsonl = tmp / "ledger.jsonl"
        self.ledger.export(self.parquet)
        self.ledger.export(self.jsonl)

    def write(self, name: str, text: str) -> Path:
        path = self.tmp / name
        path.write_text(text, encoding="utf-8")
        return path

    def rows(self, path: Path) -> list[ExportRow]:
        return [
            ExportRow(s, e, h)
            for b in read_export(path)
            for s, e, h in zip(b.seqs, b.entries, b.leaf_hashes, strict=True)
        ]


@pytest.fixture
def world(tmp_path) -> World:
    return World(tmp_path)


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_an_untouched_export_verifies_against_its_checkpoints(world, fmt):
    log = world.parquet if fmt == "parquet" else world.jsonl
    result = run("verify", log, "--key", world.vkey, "-c", world.cp100, "-c", world.cp200)
    assert result.exit_code == 0, result.output
    assert "entries: 200" in result.output and result.output.strip().endswith("VERIFIED")


def test_a_pem_public_key_works_as_well(world):
    result = run("verify", world.jsonl, "--key", world.pem, "-c", world.cp200, "--origin", ORIGIN)
    assert result.exit_code == 0, result.output


def test_a_changed_byte_in_an_entry_is_named_by_its_sequence_number(world):
    rows = world.rows(world.parquet)
    victim = rows[137]
    rows[137] = ExportRow(victim.seq, victim.entry.replace(b"bank-user-7", b"bank-user-8"), victim.leaf_hash)
    write_export(rows, world.parquet)
    result = run("verify", world.parquet, "--key", world.vkey, "-c", world.cp100, "-c", world.cp200)
    assert result.exit_code == 1
    assert "FAIL entry seq 137: leaf hash mismatch" in result.output
    assert "altered entries [137]" in result.output
    assert "ok   " + str(world.cp100) in result.output  # the earlier signed prefix still checks out
    assert result.output.strip().endswith("VERIFICATION FAILED")


def test_a_rehashed_forgery_is_caught_by_the_signed_root_and_localised(world):
    rows = world.rows(world.jsonl)
    forged = rows[150].entry.replace(b'"reason":"no_consent"', b'"reason":"revoked"')
    assert forged != rows[150].entry
    rows[150] = ExportRow(150, forged, leaf_hash(forged))
    write_export(rows, world.jsonl)
    result = run("verify", world.jsonl, "--key", world.vkey, "-c", world.cp100, "-c", world.cp200)
    assert result.exit_code == 1
    assert "leaf hash mismatch" not in result.output
    assert "root of size 200 does not match the signed root" in result.output
    assert "entries seq 100..199 were rewritten" in result.output


def test_a_deleted_entry_breaks_the_sequence(world):
    rows = world.rows(world.parquet)
    del rows[10]
    write_export(rows, world.parquet)
    result = run("verify", world.parquet, "--key", world.vkey, "-c", world.cp100)
    assert result.exit_code == 1
    assert "sequence number 11 where 10 was expected" in result.output


def test_a_checkpoint_beyond_the_export_fails(world):
    world.ledger.export(world.parquet, size=150)
    result = run("verify", world.parquet, "--key", world.vkey, "-c", world.cp200)
    assert result.exit_code == 1 and "export holds only 150" in result.output


def test_a_forged_checkpoint_signature_fails_naming_the_file(world):
    forged = world.write("forged.txt", world.cp200.read_text().replace("\n200\n", "\n199\n"))
    result = run("verify", world.parquet, "--key", world.vkey, "-c", forged)
    assert (
        result.exit_code == 1
        and f"checkpoint {forged}" in result.output
        and "does not verify" in result.output
    )


def test_a_checkpoint_signed_by_another_key_fails(world):
    result = run(
        "verify",
        world.parquet,
        "--key",
        NoteSigner(ORIGIN, Ed25519PrivateKey.generate()).verifier.vkey(),
        "-c",
        world.cp200,
    )
    assert result.exit_code == 1 and "no signature by a trusted key" in result.output


def test_two_checkpoints_are_consistent_by_proof_without_the_log(world):
    proof = world.write("c.json", json.dumps(world.ledger.consistency_proof(100, 200).to_json()))
    result = run("verify", "--key", world.vkey, "--old", world.cp100, "--new", world.cp200, "--proof", proof)
    assert result.exit_code == 0, result.output
    result = run("verify-consistency", proof, "--key", world.vkey, "--old", world.cp100, "--new", world.cp200)
    assert result.exit_code == 0, result.output


def test_two_checkpoints_are_consistent_by_recomputing_the_log(world):
    result = run("verify", world.parquet, "--key", world.vkey, "--old", world.cp100, "--new", world.cp200)
    assert result.exit_code == 0, result.output
    assert "extends" in result.output


def test_a_forked_history_is_a_consistency_violation(world):
    # The platform (or whoever holds its key) signs a head over a history that rewrote entry 42.
    fork = Ledger()
    fork.append_many(entries(200, twist_at=42))
    forked_cp = world.write("fork200.txt", CheckpointIssuer(ORIGIN, world.signer, fork.tree).issue())
    proof = world.write("fork.json", json.dumps(fork.consistency_proof(100, 200).to_json()))
    result = run("verify-consistency", proof, "--key", world.vkey, "--old", world.cp100, "--new", forked_cp)
    assert result.exit_code == 1
    assert "is not consistent with" in result.output
    fork.export(world.tmp / "fork.parquet")
    result = run(
        "verify", world.tmp / "fork.parquet", "--key", world.vkey, "--old", world.cp100, "--new", forked_cp
    )
    assert result.exit_code == 1 and "root of size 100 does not match" in result.output


def test_a_checkpoint_smaller_than_its_predecessor_is_refused(world):
    result = run("verify", world.parquet, "--key", world.vkey, "--old", world.cp200, "--new", world.cp100)
    assert result.exit_code == 1 and "the log shrank" in result.output


def test_single_inclusion_proofs_verify_and_tampered_ones_do_not(world):
    doc = world.ledger.inclusion_proof(77, 200).to_json()
    good = world.write("inc.json", json.dumps(doc))
    result = run("verify-inclusion", good, "--key", world.vkey, "-c", world.cp200)
    assert result.exit_code == 0 and "entry seq 77 is in the log of size 200" in result.output
    doc["entry"] = doc["entry"].replace("no_consent", "revoked")
    bad = world.write("bad.json", json.dumps(doc))
    result = run("verify-inclusion", bad, "--key", world.vkey, "-c", world.cp200)
    assert result.exit_code == 1 and "does not hash to the leaf hash" in result.output
    del doc["entry"]
    doc["hashes"][0] = "00" * 32
    bad.write_text(json.dumps(doc))
    result = run("verify-inclusion", bad, "--key", world.vkey, "-c", world.cp200)
    assert result.exit_code == 1 and "does not lead to the root" in result.output
    result = run("verify-inclusion", good, "--key", world.vkey, "-c", world.cp100)
    assert result.exit_code == 1 and "checkpoint signs size 100" in result.output


def test_usage_errors_exit_2(world):
    assert run("verify", "--key", world.vkey).exit_code == 2
    assert run("verify", world.parquet, "--key", "not a key").exit_code == 2
    assert run("verify", world.parquet, "--key", world.vkey).exit_code == 2  # no checkpoint


def test_checkpoints_of_another_log_are_not_mixed_in(world):
    other = CheckpointIssuer(
        "other.example/log", NoteSigner("other.example/log", world.key), world.ledger.tree
    )
    foreign = world.write("foreign.txt", other.issue(100))
    result = run("verify", world.parquet, "--key", world.pem, "-c", world.cp200, "-c", foreign)
    assert result.exit_code == 1 and "different logs" in result.output
