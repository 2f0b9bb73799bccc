"""Witnesses co-sign only append-only growth of the log: a split view is refused; readers count them."""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from typer.testing import CliRunner

from fincredit.consent import (
    CheckpointError,
    CheckpointIssuer,
    CosignatureSigner,
    CosignatureVerifier,
    InMemoryTreeStore,
    Ledger,
    MerkleTree,
    NoteSigner,
    SqliteWitnessState,
    Witness,
    WitnessClient,
    WitnessConflictError,
    WitnessError,
    WitnessPolicy,
    add_checkpoint_body,
    cosign_checkpoint,
    leaf_hash,
    parse_signed_note,
    witness_app,
)
from fincredit.consent.cli import app

ORIGIN = "ledger.fincredit.example/consent"


class Log:
    """A log of n leaves with its issuer; ``fork`` changes leaf ``fork`` (another tree, same sizes)."""

    def __init__(self, signer: NoteSigner, fork: int | None = None) -> None:
        self.tree = MerkleTree(InMemoryTreeStore())
        self.issuer = CheckpointIssuer(signer.name, signer, self.tree)
        self.fork = fork

    def grow(self, size: int) -> str:
        n = self.tree.size
        self.tree.append_many(
            [leaf_hash(f"entry {i}{'!' if i == self.fork else ''}".encode()) for i in range(n, size)]
        )
        return self.issuer.issue(size)

    def proof(self, old: int, new: int | None = None) -> list[bytes]:
        return self.tree.consistency_proof(old, new) if old else []


@pytest.fixture
def signer() -> NoteSigner:
    return NoteSigner(ORIGIN, NoteSigner.generate(ORIGIN).private_key)


@pytest.fixture
def witness(tmp_path: Path, signer: NoteSigner) -> Iterator[Witness]:
    state = SqliteWitnessState(tmp_path / "witness.db")
    yield Witness(
        CosignatureSigner.generate("witness.regulator.example/w1"), {ORIGIN: [signer.verifier]}, state
    )
    state.close()


def submit(witness: Witness, note: str, old: int, proof: list[bytes]) -> tuple[int, str]:
    reply = witness.add_checkpoint(add_checkpoint_body(note, old, proof))
    return reply.status, reply.body.decode()


def test_a_cosignature_is_a_timestamped_ed25519_signature_over_the_c2sp_message():
    w = CosignatureSigner.generate("witness.example/w1")
    body = f"{ORIGIN}\n5\n{base64.b64encode(bytes(32)).decode()}\n"
    sig = w.cosign(body, 1679315147)
    raw_key = w.verifier.vkey().split("+", 2)[2]
    assert base64.b64decode(raw_key)[0] == 0x04  # the cosignature/v1 key type
    public = base64.b64decode(raw_key)[1:]
    assert sig.key_id == hashlib.sha256(b"witness.example/w1\n\x04" + public).digest()[:4]
    assert struct.unpack(">Q", sig.signature[:8]) == (1679315147,) and len(sig.signature) == 72
    message = b"cosignature/v1\ntime 1679315147\n" + body.encode()
    w.private_key.public_key().verify(sig.signature[8:], message)
    again = CosignatureVerifier.from_vkey(w.verifier.vkey())
    assert again.verify(body, sig) == 1679315147
    with pytest.raises(CheckpointError, match="does not verify"):
        again.verify(body.replace("5", "6"), sig)


def test_a_witness_cosigns_consistent_growth_and_remembers_it(witness: Witness, signer: NoteSigner, tmp_path):
    log = Log(signer)
    first = log.grow(10)
    status, line = submit(witness, first, 0, [])
    assert status == 200 and line.startswith("\u2014 witness.regulator.example/w1 ")
    policy = WitnessPolicy([witness.signer.verifier], 1)
    assert [c.name for c in policy.check(first + line)] == ["witness.regulator.example/w1"]
    second = log.grow(25)
    status, line = submit(witness, second, 10, log.proof(10))
    assert status == 200
    # The same checkpoint again is co-signed again; the state survives a restart.
    assert submit(witness, second, 25, [])[0] == 200
    assert SqliteWitnessState(tmp_path / "witness.db").sizes() == {ORIGIN: 25}


def test_a_split_view_is_refused(witness: Witness, signer: NoteSigner):
    honest, forked = Log(signer), Log(signer, fork=3)
    assert submit(witness, honest.grow(8), 0, [])[0] == 200
    # Another tree of the same size, signed by the same log key, shown to another party: refused.
    status, body = submit(witness, forked.grow(8), 8, [])
    assert (status, body) == (409, "8\n")
    # Grown further, the fork cannot prove it extends what the witness co-signed.
    status, body = submit(witness, forked.grow(12), 8, forked.proof(8, 12))
    assert status == 422 and "does not verify" in body
    reasons = [status for _, _, status, _, _ in witness.state.evidence(ORIGIN)]
    assert reasons == [409, 422]  # the log's own signed requests, kept as proof of the fork


def test_a_bad_proof_or_a_stale_old_size_is_refused(witness: Witness, signer: NoteSigner):
    log = Log(signer)
    assert submit(witness, log.grow(6), 0, [])[0] == 200
    note = log.grow(9)
    proof = log.proof(6)
    bad = [bytes(32), *proof[1:]]
    assert submit(witness, note, 6, bad)[0] == 422
    reply = witness.add_checkpoint(add_checkpoint_body(note, 4, log.proof(4)))
    assert (reply.status, reply.body, reply.content_type) == (409, b"6\n", "text/x.tlog.size")
    assert submit(witness, note, 0, [])[0] == 409  # not a fresh start either
    assert submit(witness, note, 6, proof)[0] == 200


def test_requests_the_witness_cannot_trust_are_refused_by_status(witness: Witness, signer: NoteSigner):
    log = Log(signer)
    note = log.grow(4)
    stranger = Log(NoteSigner.generate("other.example/log"))
    assert submit(witness, stranger.grow(4), 0, [])[0] == 404
    impostor = Log(NoteSigner(ORIGIN, NoteSigner.generate(ORIGIN).private_key))
    assert submit(witness, impostor.grow(4), 0, [])[0] == 403
    assert submit(witness, note, 5, [])[0] == 400  # old size above the checkpoint's
    assert witness.add_checkpoint(b"old 0" + note.encode()).status == 400  # no blank line after the proof
    short = b"old 2\n" + base64.b64encode(b"short") + b"\n\n" + note.encode()
    assert witness.add_checkpoint(short).status == 400  # a proof hash of the wrong length
    assert witness.state.sizes() == {}


def test_a_policy_counts_trusted_cosignatures_and_rejects_a_forged_one(witness: Witness, signer: NoteSigner):
    log = Log(signer)
    note = log.grow(3)
    w2 = CosignatureSigner.generate("witness.bank.example/w2")
    w3 = CosignatureSigner.generate("witness.court.example/w3")
    body, _ = parse_signed_note(note)
    cosigned = (
        note + w2.cosign(body).line() + CosignatureSigner.generate("unknown.example/x").cosign(body).line()
    )
    policy = WitnessPolicy([w2.verifier, w3.verifier], 2)
    with pytest.raises(CheckpointError, match="co-signed by 1 of the trusted witnesses"):
        policy.check(cosigned)
    both = cosigned + w3.cosign(body).line()
    assert {c.name for c in policy.check(both)} == {w2.name, w3.name}
    forged = w3.cosign(body.replace("\n3\n", "\n4\n")).line()
    with pytest.raises(CheckpointError, match="does not verify"):
        policy.check(cosigned + forged)
    with pytest.raises(CheckpointError, match="future"):
        policy.check(note + w2.cosign(body, int(time.time()) + 3600).line() + w3.cosign(body).line())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(witness: Witness) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(witness_app(witness), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the witness did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_the_log_gets_cosignatures_over_http_and_recovers_from_a_size_it_did_not_know(
    served: str, witness: Witness, signer: NoteSigner, tmp_path: Path
):
    log = Log(signer)
    client = WitnessClient(served, witness.signer.verifier)
    first = log.grow(5)
    sig = client.add_checkpoint(first, 0, [])
    assert witness.signer.verifier.verify(parse_signed_note(first)[0], sig) > 0
    # The log forgot what the witness holds: the witness's 409 names the size, and the retry proves from it.
    second = log.grow(40)
    cosigned, held = cosign_checkpoint(client, second, 0, log.proof)
    assert held == 40 and WitnessPolicy([witness.signer.verifier], 1).check(cosigned)
    with pytest.raises(WitnessConflictError) as conflict:
        client.add_checkpoint(log.grow(41), 5, log.proof(5))
    assert conflict.value.known_size == 40
    latencies, held = [], 40
    for size in range(42, 92):
        note = log.grow(size)
        t = time.perf_counter()
        client.add_checkpoint(note, held, log.proof(held))
        latencies.append(time.perf_counter() - t)
        held = size
    assert sorted(latencies)[-1] < 1.0  # loopback; the benchmark measures the p99 properly
    with pytest.raises(WitnessError):
        WitnessClient(served + "/nowhere", witness.signer.verifier).add_checkpoint(note, 0, [])
    client.close()

    # A regulator insists on the witness: the export verifies only with its cosignature on the checkpoint.
    # An empty log's checkpoint, without and with a cosignature by that witness's key.
    ledger = Ledger()
    vkey = witness.signer.verifier.vkey()
    plain = tmp_path / "cp.txt"
    runner = CliRunner()
    plain.write_text(CheckpointIssuer(ORIGIN, signer, ledger.tree).issue())
    export = tmp_path / "log.jsonl"
    ledger.export(export)
    args = ["verify", str(export), "-k", signer.verifier.vkey(), "-c", str(plain), "--witness", vkey]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "co-signed by 0 of the trusted witnesses" in result.output
    witnessed = tmp_path / "cp-witnessed.txt"
    other = Witness(witness.signer, {ORIGIN: [signer.verifier]}, SqliteWitnessState(tmp_path / "w2.db"))
    reply = other.add_checkpoint(add_checkpoint_body(plain.read_text(), 0, []))
    witnessed.write_text(plain.read_text() + reply.body.decode())
    args[args.index(str(plain))] = str(witnessed)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "co-signed by 1 trusted witnesses (witness.regulator.example/w1)" in result.output


def test_witness_keygen_writes_a_private_key_only_its_owner_reads_and_prints_the_verifier_key(tmp_path: Path):
    out = tmp_path / "witness.pem"
    result = CliRunner().invoke(
        app, ["witness", "keygen", "--name", "witness.regulator.example/w1", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o777 == 0o600 and b"PRIVATE KEY" in out.read_bytes()
    assert CosignatureVerifier.from_vkey(result.output.strip()).name == "witness.regulator.example/w1"
    again = CliRunner().invoke(app, ["witness", "keygen", "--name", "w", "--out", str(out)])
    assert again.exit_code == 2  # never overwrites a witness's key
