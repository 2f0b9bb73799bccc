"""KKRT16 building blocks: bit transposition, base OTs, cuckoo hashing and the OPRF itself."""

from __future__ import annotations

import os

import numpy as np
import pytest

from fincredit.federation import _psi_kkrt as kkrt
from fincredit.federation._psi_protocol import KKRT_PROTOCOL
from fincredit.federation.errors import PsiError

KEYS = kkrt.JobKeys.derive(KKRT_PROTOCOL, "job", b"n" * 16, b"p" * 16)


@pytest.mark.parametrize(("rows", "cbytes"), [(8, 1), (64, 24), (512, 300), (4096, 64)])
def test_bit_transpose_matches_the_definition(rows: int, cbytes: int) -> None:
    mat = np.frombuffer(os.urandom(rows * cbytes), dtype=np.uint8).reshape(rows, cbytes)
    bits = np.unpackbits(mat, axis=1, bitorder="little")
    expected = np.packbits(bits.T, axis=1, bitorder="little")
    assert np.array_equal(kkrt.transpose_bits(mat, tile_bytes=1024), expected)
    assert np.array_equal(kkrt.transpose_bits(expected), mat)


def test_base_ots_give_the_receiver_exactly_its_chosen_keys() -> None:
    sender = kkrt.OtSender()
    receiver = kkrt.OtReceiver(sender.point)
    k0, k1 = sender.keys(receiver.reply)
    for i, choice in enumerate(receiver.choices):
        assert receiver.keys[i] == (k1[i] if choice else k0[i])
        assert receiver.keys[i] != (k0[i] if choice else k1[i])


def test_base_ots_refuse_points_outside_the_group() -> None:
    with pytest.raises(PsiError, match="prime-order group"):
        kkrt.OtReceiver(bytes(32))
    sender = kkrt.OtSender()
    with pytest.raises(PsiError, match="prime-order group"):
        sender.keys(bytes(32) * kkrt.WIDTH)


def test_cuckoo_table_holds_every_item_once_in_one_of_its_bins() -> None:
    digests = kkrt.digest_ids(KEYS.ident, [f"C{i}" for i in range(5000)])
    bucket = kkrt.ReceiverBucket.build(KEYS, digests)
    cand = kkrt.bins_for(KEYS, digests, bucket.bins, bucket.tweak)
    placed = np.flatnonzero(bucket.table >= 0)
    assert sorted(bucket.table[placed].tolist()) == list(range(5000))
    assert all(b in cand[bucket.table[b]] for b in placed)


def test_oprf_values_agree_exactly_on_the_receivers_items() -> None:
    bank = kkrt.digest_ids(KEYS.ident, [f"I{i}" for i in range(300)])
    platform = kkrt.digest_ids(KEYS.ident, [f"I{i}" for i in range(200, 700)])
    receiver = kkrt.ReceiverBucket.build(KEYS, bank)
    sender = kkrt.OtSender()
    ot = kkrt.OtReceiver(sender.point)
    correction = receiver.correction(*sender.keys(ot.reply), 3)
    values = kkrt.sender_values(KEYS, ot, correction, 3, receiver.bins, receiver.tweak, platform)
    items, positions = receiver.match(values)
    assert sorted(zip(items.tolist(), positions.tolist(), strict=True)) == [
        (i, i - 200) for i in range(200, 300)
    ]


def test_distinct_identifiers_get_distinct_digests_and_canonical_forms_the_same() -> None:
    ids = [f"{i:018d}" for i in range(10_000)] + ["x" * 40, "x" * 41]
    digests = kkrt.digest_ids(KEYS.ident, ids)
    assert len(np.unique(digests.view("V16"))) == len(ids)
    assert np.array_equal(
        kkrt.digest_ids(KEYS.ident, [" 11010119900307457x "]),
        kkrt.digest_ids(KEYS.ident, ["11010119900307457X"]),
    )
