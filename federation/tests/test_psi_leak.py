"""Leak test: nothing either party sends carries an identifier in clear or as a plain hash.

Every message is captured as encoded wire bytes (what a network observer or the other party sees) and
searched for each raw identifier, its canonical form, its SHA-256 and SHA-512/256, and the values each
protocol derives from an identifier without a party's secret: under ECDH the unblinded hash-to-curve
point under the job's domain; under KKRT16 the identifier's digest and every block of its codeword
``C(x)``, computed under the job's keys (which both parties know, so they count as plain hashes).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from fincredit.federation import FrameRouter, LocalLink, PlatformPsiParty, align
from fincredit.federation import _psi_kkrt as kkrt
from fincredit.federation._psi_curve import hash_ids
from fincredit.federation._psi_messages import Start
from fincredit.federation._psi_protocol import KKRT_PROTOCOL, job_domain
from fincredit.federation.wire import decode

JOB = "leak-job"


def _forms(ident: str, keys: kkrt.JobKeys | None) -> list[bytes]:
    raw = ident.encode()
    canon = ident.strip().upper().encode()
    forms = [
        raw,
        canon,
        hashlib.sha256(raw).digest(),
        hashlib.sha256(canon).digest(),
        hashlib.sha256(canon).hexdigest().encode(),
        hashlib.new("sha512_256", canon).digest(),
        hash_ids(job_domain(JOB), [ident.strip().upper()]),
    ]
    if keys is not None:
        digest = kkrt.digest_ids(keys.ident, [ident])
        code = kkrt.prc_encode(keys, digest).tobytes()
        forms += [digest.tobytes(), digest.tobytes().hex().encode()]
        forms += [code[i : i + 16] for i in range(0, len(code), 16)]
    return forms


def _job_keys(transcript: list[tuple[str, bytes]]) -> kkrt.JobKeys:
    start = decode(next(m for d, m in transcript if d == "bank->platform"))
    reply = decode(next(m for d, m in transcript if d == "platform->bank"))
    assert start.kind == reply.kind == Start.KIND and reply.meta["protocol"] == KKRT_PROTOCOL
    return kkrt.JobKeys.derive(
        KKRT_PROTOCOL, JOB, bytes.fromhex(start.meta["nonce"]), bytes.fromhex(reply.meta["nonce"])
    )


@pytest.mark.parametrize("protocol", ["kkrt", "ecdh"])
def test_no_identifier_crosses_in_clear_or_as_a_plain_hash(protocol: str) -> None:
    shared = [f"91330200MA2H{i:06d}" for i in range(40)]
    bank_only = [f"330203199001{i:04d}21" for i in range(60)]
    platform_only = [f"91330212MA2K{i:06d}" for i in range(80)]
    party = PlatformPsiParty(lambda request: [*shared, *platform_only])
    router = FrameRouter()
    router.register("psi.", party.handle)
    link = LocalLink(lambda frame: router.handle(frame, bank_id="bank-1"), record=True)

    # Two buckets under KKRT, so the per-bucket messages are covered too.
    result = align(link, JOB, [*bank_only, *shared], chunk=16, protocol=protocol, bucket_rows=50)  # type: ignore[arg-type]
    assert sorted(result.ids) == sorted(shared)

    assert link.transcript is not None
    keys = _job_keys(link.transcript) if protocol == "kkrt" else None
    to_platform = b"\n".join(msg for direction, msg in link.transcript if direction == "bank->platform")
    to_bank = b"\n".join(msg for direction, msg in link.transcript if direction == "platform->bank")
    # The platform never receives any bank identifier, inside the intersection or not.
    for ident in [*bank_only, *shared]:
        for form in _forms(ident, keys):
            assert form not in to_platform, ident
    # The bank never receives any platform identifier (it learns the shared ones only by matching).
    for ident in [*platform_only, *shared]:
        for form in _forms(ident, keys):
            assert form not in to_bank, ident


def test_kkrt_correction_matrix_looks_uniform_to_the_platform() -> None:
    # The platform sees U = PRG(k0) xor PRG(k1) xor C(x) and knows one key per column: for the columns
    # where it chose 1, U xor PRG(k1) = PRG(k0) xor C(x), still masked by the key it does not hold.
    # Without the bank's keys, U's bits are balanced whatever the bank's items are.
    keys = kkrt.JobKeys.derive(KKRT_PROTOCOL, JOB, b"a" * 16, b"b" * 16)
    receiver = kkrt.ReceiverBucket.build(keys, kkrt.digest_ids(keys.ident, [f"X{i}" for i in range(2000)]))
    sender = kkrt.OtSender()
    ot = kkrt.OtReceiver(sender.point)
    k0, k1 = sender.keys(ot.reply)
    u = receiver.correction(k0, k1, 0)
    ones = float(np.unpackbits(u).mean())
    assert 0.49 < ones < 0.51
