"""Information value of the platform's features under encryption: the bank learns each platform
feature's IV (from the shuffled bins' sizes and bad counts), never the thresholds, the values or which of
its rows fall in which bin; the platform only holds label ciphertexts under the bank's key."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tenseal as ts

from fincredit.federation._iv import platform_information_values, platform_iv_reply
from fincredit.federation.errors import PartyError
from fincredit.federation.scorecard import information_values
from fincredit.federation.wire import Frame, LocalLink

RNG = np.random.default_rng(3)
N = 5000  # two label ciphertexts (4,096 rows each)


def _setting() -> tuple[np.ndarray, pd.DataFrame]:
    rating = RNG.integers(0, 5, N).astype(float)
    noise = RNG.normal(size=N)
    y = (RNG.random(N) < 1 / (1 + np.exp(1.0 + 0.6 * (rating - 2)))).astype(int)
    return y, pd.DataFrame({"tax_rating_latest": rating, "noise": noise})


def test_the_bank_learns_each_platform_features_iv_and_nothing_per_row() -> None:
    y, features = _setting()
    seen: list[Frame] = []

    def platform(frame: Frame) -> Frame:
        seen.append(frame)
        reply = platform_iv_reply(frame, features)
        seen.append(reply)
        return reply

    ivs = platform_information_values(LocalLink(platform), "job-1", y, bins=10)
    plain = information_values(features.assign(default=y), list(features.columns), "default", bins=10)
    for name in features.columns:
        assert ivs.loc[name, "iv"] == pytest.approx(plain[name], abs=1e-6)
    assert ivs.index[0] == "tax_rating_latest" and ivs.loc["noise", "iv"] < 0.02

    request, reply = seen
    # The platform received a public context: rotation keys, no secret key.
    assert not ts.context_from(request.blobs[0]).has_secret_key() and len(request.blobs) == 1 + 2
    # The reply names bin sizes only (no threshold, no order), one encrypted count per bin.
    assert set(reply.meta) == {"features"} and all(
        set(f) == {"name", "sizes"} for f in reply.meta["features"]
    )
    assert len(reply.blobs) == sum(len(f["sizes"]) for f in reply.meta["features"])


def test_bins_come_back_in_a_random_order() -> None:
    y, features = _setting()
    orders = set()
    for _ in range(6):
        replies: list[Frame] = []

        def platform(frame: Frame, keep: list[Frame] = replies) -> Frame:
            keep.append(platform_iv_reply(frame, features[["tax_rating_latest"]]))
            return keep[-1]

        platform_information_values(LocalLink(platform), "job-1", y, bins=10)
        sizes = replies[0].meta["features"][0]["sizes"]
        assert sorted(sizes) == sorted(np.unique(features["tax_rating_latest"], return_counts=True)[1])
        orders.add(tuple(sizes))
    assert len(orders) > 1  # the five rating bins, of unequal sizes, do not come back low to high


def test_a_request_that_does_not_fit_the_job_is_refused() -> None:
    _, features = _setting()
    with pytest.raises(PartyError, match="aligned"):
        platform_iv_reply(
            Frame(kind="iv.request", job_id="j", meta={"n_rows": 3, "bins": 10}, blobs=[b"x", b"y"]), features
        )
    with pytest.raises(PartyError, match="bins"):
        platform_iv_reply(
            Frame(kind="iv.request", job_id="j", meta={"n_rows": N, "bins": 500}, blobs=[b"x", b"y"]),
            features,
        )
    with pytest.raises(PartyError, match="cannot be read"):
        platform_iv_reply(
            Frame(kind="iv.request", job_id="j", meta={"n_rows": N, "bins": 10}, blobs=[b"x", b"y"]), features
        )
