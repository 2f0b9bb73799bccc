"""X25519 as the PSI uses it: hashing ids to u-coordinates and blinding commute."""

from __future__ import annotations

import os

import pytest

from fincredit.federation import _psi_curve as curve
from fincredit.federation.errors import PsiError


def test_blinding_commutes_for_hashed_identifiers() -> None:
    a, b = curve.new_secret(), curve.new_secret()
    ids = [f"91330200MA2{i:07d}" for i in range(50)]
    a_then_b = curve.blind_points(b, curve.blind_ids(a, b"dom", ids, workers=1), workers=1)
    b_then_a = curve.blind_points(a, curve.blind_ids(b, b"dom", ids, workers=1), workers=1)
    assert a_then_b == b_then_a


def test_blinding_commutes_on_arbitrary_u_including_twist_points() -> None:
    # Any 32 bytes are a u-coordinate on the curve or its twist; commutation must hold on both.
    a, b = curve.new_secret(), curve.new_secret()
    blob = b"".join(os.urandom(32) for _ in range(64))
    assert curve.blind_points(a, curve.blind_points(b, blob)) == curve.blind_points(
        b, curve.blind_points(a, blob)
    )


def test_different_secrets_or_domains_give_unrelated_points() -> None:
    a, b = curve.new_secret(), curve.new_secret()
    ids = ["110101199003074578"]
    assert curve.blind_ids(a, b"d1", ids) != curve.blind_ids(b, b"d1", ids)
    assert curve.blind_ids(a, b"d1", ids) != curve.blind_ids(a, b"d2", ids)
    assert curve.blind_ids(a, b"d1", ids) == curve.blind_ids(a, b"d1", ids)


def test_low_order_point_is_refused() -> None:
    # u = 0 and u = 1 are small-order points: a clamped scalar sends them to zero, which OpenSSL refuses.
    for u in (bytes(32), (1).to_bytes(32, "little")):
        with pytest.raises(PsiError, match="low order"):
            curve.blind_points(curve.new_secret(), u)


def test_blob_that_is_not_whole_points_is_refused() -> None:
    with pytest.raises(PsiError, match="whole number"):
        curve.blind_points(curve.new_secret(), b"\x09" * 33)


@pytest.mark.slow
def test_process_pool_gives_the_same_points_as_inline() -> None:
    secret = curve.new_secret()
    ids = [f"id-{i}" for i in range(9000)]
    inline = curve.blind_ids(secret, b"d", ids, workers=1)
    pooled = curve.blind_ids(secret, b"d", ids, workers=2)
    assert pooled == inline
    assert curve.blind_points(secret, inline, workers=2) == curve.blind_points(secret, inline, workers=1)
