"""Leak test: nothing either party sends carries an identifier in clear or as a plain hash.

Every message is captured as encoded wire bytes (what a network observer or the other party sees) and
searched for each raw identifier, its canonical form, and its SHA-256, SHA-512/256 and unblinded
hash-to-curve point under the job's domain.
"""

from __future__ import annotations

import hashlib

from fincredit.federation import FrameRouter, LocalLink, PlatformPsiParty, align
from fincredit.federation._psi_curve import hash_ids
from fincredit.federation._psi_protocol import job_domain

JOB = "leak-job"


def _forms(ident: str) -> list[bytes]:
    raw = ident.encode()
    canon = ident.strip().upper().encode()
    return [
        raw,
        canon,
        hashlib.sha256(raw).digest(),
        hashlib.sha256(canon).digest(),
        hashlib.sha256(canon).hexdigest().encode(),
        hashlib.new("sha512_256", canon).digest(),
        hash_ids(job_domain(JOB), [ident.strip().upper()]),
    ]


def test_no_identifier_crosses_in_clear_or_as_a_plain_hash() -> None:
    shared = [f"91330200MA2H{i:06d}" for i in range(40)]
    bank_only = [f"330203199001{i:04d}21" for i in range(60)]
    platform_only = [f"91330212MA2K{i:06d}" for i in range(80)]
    party = PlatformPsiParty(lambda request: [*shared, *platform_only])
    router = FrameRouter()
    router.register("psi.", party.handle)
    link = LocalLink(lambda frame: router.handle(frame, bank_id="bank-1"), record=True)

    result = align(link, JOB, [*bank_only, *shared], chunk=16)
    assert sorted(result.ids) == sorted(shared)

    assert link.transcript is not None
    to_platform = b"\n".join(msg for direction, msg in link.transcript if direction == "bank->platform")
    to_bank = b"\n".join(msg for direction, msg in link.transcript if direction == "platform->bank")
    # The platform never receives any bank identifier, inside the intersection or not.
    for ident in [*bank_only, *shared]:
        for form in _forms(ident):
            assert form not in to_platform, ident
    # The bank never receives any platform identifier (it learns the shared ones only by matching).
    for ident in [*platform_only, *shared]:
        for form in _forms(ident):
            assert form not in to_bank, ident
