"""PSI alignment end to end between the bank SDK and the platform party, over the real wire bytes.

Every behaviour holds for both protocols a bank may choose: KKRT16 (the default) and ECDH.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from fincredit.federation import (
    FrameRouter,
    LocalLink,
    PartyError,
    PlatformConnection,
    PlatformPsiParty,
    PsiInputError,
    PsiRequest,
    align,
)

BANK = "bank-ningbo-01"


@pytest.fixture(params=["kkrt", "ecdh"])
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:08d}" for i in range(n)]


def _parties(platform_ids: list[str]) -> tuple[PlatformPsiParty, LocalLink, list[PsiRequest]]:
    requests: list[PsiRequest] = []

    def source(request: PsiRequest) -> list[str]:
        requests.append(request)
        return platform_ids

    party = PlatformPsiParty(source)
    router = FrameRouter()
    router.register("psi.", party.handle)
    return party, LocalLink(lambda frame: router.handle(frame, bank_id=BANK)), requests


def _check(
    bank_ids: list[str],
    platform_ids: list[str],
    *,
    protocol: str = "kkrt",
    chunk: int = 100_000,
    bucket_rows: int = 2_000_000,
) -> int:
    party, link, _ = _parties(platform_ids)
    bank = align(link, "job-1", bank_ids, chunk=chunk, protocol=protocol, bucket_rows=bucket_rows)  # type: ignore[arg-type]
    plat = party.alignment("job-1", bank_id=BANK)
    expected = set(bank_ids) & set(platform_ids)
    # Same alignment on both sides: same id, same size, and join index j is the same subject.
    assert bank.alignment_id == plat.alignment_id
    assert bank.size == plat.size == len(expected)
    assert bank.ids == plat.ids
    assert set(bank.ids) == expected
    assert [bank_ids[r] for r in bank.rows] == bank.ids
    assert [platform_ids[r] for r in plat.rows] == plat.ids
    assert (bank.own_size, bank.other_size) == (len(bank_ids), len(set(platform_ids)))
    assert (plat.own_size, plat.other_size) == (len(set(platform_ids)), len(bank_ids))
    return bank.size


def test_partial_overlap_of_random_sets(protocol: str) -> None:
    rng = random.Random(7)
    universe = _ids("U", 3000)
    bank_ids = rng.sample(universe, 1200)
    platform_ids = rng.sample(universe, 2000)
    assert _check(bank_ids, platform_ids, protocol=protocol) == len(set(bank_ids) & set(platform_ids)) > 0


def test_hash_buckets_align_independently_into_one_alignment() -> None:
    rng = random.Random(11)
    universe = _ids("V", 4000)
    bank_ids = rng.sample(universe, 1500)
    platform_ids = rng.sample(universe, 2500)
    # 1,500 bank rows in buckets of 200: 8 independent PSIs, one join order.
    expected = len(set(bank_ids) & set(platform_ids))
    assert _check(bank_ids, platform_ids, bucket_rows=200) == expected > 0


def test_no_overlap_aligns_nothing(protocol: str) -> None:
    assert _check(_ids("A", 300), _ids("B", 500), protocol=protocol) == 0


def test_full_overlap_aligns_everything(protocol: str) -> None:
    ids = _ids("F", 400)
    assert _check(ids, list(reversed(ids)), protocol=protocol) == 400


def test_empty_sets_on_either_side(protocol: str) -> None:
    assert _check([], _ids("P", 50), protocol=protocol) == 0
    assert _check(_ids("B", 50), [], protocol=protocol) == 0


def test_different_sizes_and_small_chunks() -> None:
    bank_ids = _ids("X", 37)
    platform_ids = _ids("X", 500)[::3]
    expected = len(set(bank_ids) & set(platform_ids))
    assert _check(bank_ids, platform_ids, protocol="ecdh", chunk=7) == expected


def test_identifiers_longer_than_a_block_still_align() -> None:
    long_ids = [f"{'L' * 40}{i:04d}" for i in range(30)]
    assert _check(long_ids[:20], long_ids[10:] + [f"{'L' * 40}{i:04d}x" for i in range(5)]) == 10


def test_identifiers_compare_case_and_space_insensitively(protocol: str) -> None:
    party, link, _ = _parties(["11010119900307457X"])
    bank = align(link, "job-1", [" 11010119900307457x "], protocol=protocol)  # type: ignore[arg-type]
    assert bank.size == 1
    assert bank.ids == [" 11010119900307457x "]  # each side gets back its own spelling
    assert party.alignment("job-1", bank_id=BANK).ids == ["11010119900307457X"]


def test_duplicate_bank_identifiers_are_refused_before_anything_is_sent() -> None:
    _, link, requests = _parties(_ids("D", 10))
    with pytest.raises(PsiInputError, match="more than once"):
        align(link, "job-1", ["D00000001", "D00000002", "d00000001"])
    with pytest.raises(PsiInputError, match="missing"):
        align(link, "job-1", ["D00000001", ""])
    assert requests == [] and link.bytes_sent == 0


def test_duplicate_platform_subjects_count_once(protocol: str) -> None:
    assert _check(_ids("S", 20), _ids("S", 10) * 3, protocol=protocol) == 10
    five = ["S00000099", *_ids("S", 5), "S00000099", *_ids("S", 5)]
    assert _check(_ids("S", 20), five, protocol=protocol) == 5


def test_platform_source_is_asked_for_this_bank_and_scopes_only() -> None:
    # The platform service filters by consent in the source: a subject it leaves out never aligns.
    consenting = _ids("C", 5)
    _, link, requests = _parties(consenting)
    bank = align(link, "job-9", [*consenting[:3], "C99999999"], scopes=["joint_modelling", "tax"])
    assert requests == [
        PsiRequest(bank_id=BANK, job_id="job-9", scopes=("joint_modelling", "tax"), bank_size=4)
    ]
    assert sorted(bank.ids) == consenting[:3]


def test_join_order_is_shuffled_not_input_order() -> None:
    ids = _ids("O", 200)
    _, link, _ = _parties(ids)
    bank = align(link, "job-1", ids)
    assert sorted(bank.rows.tolist()) == list(range(200))
    assert bank.rows.tolist() != list(range(200))
    assert isinstance(bank.rows, np.ndarray) and bank.rows.dtype == np.int64


def test_platform_connection_over_a_link_aligns() -> None:
    _, link, _ = _parties(_ids("K", 30))
    conn = PlatformConnection.over(link, timeout=10)
    bank = conn.align("job-c", _ids("K", 60)[20:])
    assert bank.size == 10
    assert conn.bytes_exchanged == link.bytes_sent + link.bytes_received > 0


@pytest.mark.slow
def test_pooled_alignment_of_twenty_thousand() -> None:
    rng = random.Random(3)
    universe = _ids("P", 40_000)
    bank_ids = rng.sample(universe, 20_000)
    platform_ids = rng.sample(universe, 20_000)
    assert _check(bank_ids, platform_ids, chunk=8192) == len(set(bank_ids) & set(platform_ids))


def test_platform_hook_sees_each_finished_alignment_once() -> None:
    calls: list[tuple[str, list[str]]] = []
    party = PlatformPsiParty(lambda r: _ids("H", 10), on_aligned=lambda bank, a: calls.append((bank, a.ids)))
    router = FrameRouter()
    router.register("psi.", party.handle)
    bank = align(LocalLink(lambda f: router.handle(f, bank_id=BANK)), "job-h", _ids("H", 4))
    assert calls == [(BANK, bank.ids)]


def test_a_failing_platform_hook_means_no_alignment() -> None:
    def refuse(bank_id: str, alignment: object) -> None:
        raise PermissionError("ledger unavailable")

    party = PlatformPsiParty(lambda r: _ids("H", 10), on_aligned=refuse)
    router = FrameRouter()
    router.register("psi.", party.handle)
    with pytest.raises(PartyError, match="ledger unavailable"):
        align(LocalLink(lambda f: router.handle(f, bank_id=BANK)), "job-h", _ids("H", 4))


def test_platform_status_shows_sizes_and_progress_only() -> None:
    party, link, _ = _parties(_ids("T", 8))
    align(link, "job-s", _ids("T", 12)[4:])
    align(link, "job-e", _ids("T", 12)[4:], protocol="ecdh")
    common = {"state": "aligned", "platform_size": 8, "bank_size": 8, "aligned": 4}
    assert party.status("job-s", bank_id=BANK) == common | {
        "job_id": "job-s",
        "alignment_id": party.alignment("job-s", bank_id=BANK).alignment_id,
        "protocol": "kkrt16-psi/aes128-ed25519/v1",
        "buckets": 1,
        "buckets_matched": 1,
    }
    assert party.status("job-e", bank_id=BANK) == common | {
        "job_id": "job-e",
        "alignment_id": party.alignment("job-e", bank_id=BANK).alignment_id,
        "protocol": "ecdh-psi/x25519/sha512-256/v1",
        "reblinded": 8,
    }
    with pytest.raises(PartyError, match="no PSI job"):
        party.status("job-s", bank_id="another-bank")


def test_a_bank_cannot_ask_the_platform_for_more_oprf_inputs_than_its_declared_set() -> None:
    from fincredit.federation import Frame
    from fincredit.federation import _psi_kkrt as kkrt

    _party, link, _ = _parties(_ids("Q", 100))
    start = link.call(
        Frame(
            kind="psi.start",
            job_id="job-q",
            meta={
                "protocol": "kkrt16-psi/aes128-ed25519/v1",
                "bank_size": 10,
                "scopes": [],
                "buckets": 1,
                "nonce": "00" * 16,
            },
        )
    )
    assert start.kind == "psi.start"
    sender = kkrt.OtSender()
    base = link.call(Frame(kind="psi.base", job_id="job-q", meta={"bucket": 0}, blobs=[sender.point]))
    assert base.kind == "psi.base"
    bins = 4096  # a cuckoo table for ~3,200 ids, though the bank declared 10
    reply = link.call(
        Frame(
            kind="psi.oprf",
            job_id="job-q",
            meta={"bucket": 0, "bins": bins, "tweak": 0},
            blobs=[bytes(kkrt.WIDTH * bins // 8)],
        )
    )
    assert reply.kind == "error" and reply.meta["code"] == "limit"
