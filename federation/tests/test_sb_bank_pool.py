"""The bank's half of a histogram request in its own processes: the same ciphertexts' contents and
the same sums as in the bank's process, small requests never leave it, and a pool that breaks is
replaced by the bank's process."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pytest

from fincredit.federation._ckks import (
    SECUREBOOST_COEFF_MOD_BITS,
    SECUREBOOST_SCALE_BITS,
    new_secret_context,
    public_context_bytes,
    secret_context_bytes,
)
from fincredit.federation._ckks_seal import SealKit
from fincredit.federation._sb_bank_pool import BankCrypto
from fincredit.federation._sb_histogram import SLOTS, histogram_task, packing_for


@pytest.fixture(scope="module")
def keys() -> Iterator[tuple[SealKit, bytes, bytes]]:
    ctx = new_secret_context(SECUREBOOST_COEFF_MOD_BITS, SECUREBOOST_SCALE_BITS)
    yield SealKit(ctx), secret_context_bytes(ctx), public_context_bytes(ctx)


def _sums(
    crypto: BankCrypto, public: bytes, g: np.ndarray, h: np.ndarray, bins: np.ndarray
) -> list[list[tuple[int, float, float]]]:
    packing = packing_for(g.size, 4)
    replicas = 2
    blobs = crypto.encrypt_gh(g, h, replicas, packing)
    groups, sums = histogram_task(public, blobs, bins[:, None], [20], 64.0, 1, replicas, False, packing)
    pairs = [(sums[2 * k], sums[2 * k + 1], group) for k, group in enumerate(groups)]
    return crypto.decrypt_sums(pairs, SLOTS // replicas, packing)


@pytest.mark.slow
def test_two_processes_encrypt_and_decrypt_what_the_bank_s_process_does(
    keys: tuple[SealKit, bytes, bytes],
) -> None:
    kit, secret, public = keys
    rng = np.random.default_rng(5)
    rows = 9000
    g = rng.integers(-2, 3, rows).astype(float)
    h = rng.integers(0, 5, rows).astype(float)
    bins = rng.integers(0, 20, rows)
    crypto = BankCrypto(kit, secret, processes=2)
    crypto.min_per_process = 1
    try:
        crypto.start_for(rows)
        pooled = _sums(crypto, public, g, h, bins)
        assert crypto._pool is not None, "the request went to the processes"
    finally:
        crypto.close()
    here = _sums(BankCrypto(kit, secret, processes=1), public, g, h, bins)
    assert pooled == here
    by_bin = {b: (gs, hs) for sums in pooled for b, gs, hs in sums}
    assert by_bin == {b: (g[bins == b].sum(), h[bins == b].sum()) for b in range(20)}


def test_a_small_request_stays_in_the_bank_s_process(keys: tuple[SealKit, bytes, bytes]) -> None:
    kit, secret, public = keys
    crypto = BankCrypto(kit, secret, processes=2)
    crypto.start_for(1000)  # a job this small never starts the processes
    g, h = np.ones(1000), np.ones(1000)
    bins = np.arange(1000) % 20
    sums = _sums(crypto, public, g, h, bins)
    assert crypto._pool is None
    assert {b: (gs, hs) for s in sums for b, gs, hs in s} == {b: (50.0, 50.0) for b in range(20)}


def test_a_broken_pool_leaves_the_work_to_the_bank_s_process(
    keys: tuple[SealKit, bytes, bytes], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit, secret, public = keys

    class Broken:
        def submit(self, *args: object) -> None:
            raise BrokenProcessPool("a process died")

        def shutdown(self, **kwargs: object) -> None:
            pass

    crypto = BankCrypto(kit, secret, processes=2)
    crypto.min_per_process = 1
    monkeypatch.setattr(crypto, "_pool", Broken())
    g, h = np.ones(3000), np.ones(3000)
    bins = np.arange(3000) % 20
    sums = _sums(crypto, public, g, h, bins)
    assert {b: (gs, hs) for s in sums for b, gs, hs in s} == {b: (150.0, 150.0) for b in range(20)}
    assert "going on in this process" in caplog.text
    assert crypto._pool is None  # and no new pool is started for the next requests
    _sums(crypto, public, g, h, bins)
    assert crypto._pool is None
