"""Training protocols sit behind one interface, found by name or frame prefix; SecureBoost's frames are
declared message types that refuse a malformed frame by naming its kind and field."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from fincredit.federation import FederationError, LocalLink
from fincredit.federation import _sb_messages as msg
from fincredit.federation._protocols import BY_PREFIX, PROTOCOLS
from fincredit.federation._sb_histogram import Packing
from fincredit.federation.errors import InputError
from fincredit.federation.training import (
    PlatformTrainingParty,
    SecureBoostParams,
    TrainingProtocol,
    training_protocol,
)
from fincredit.federation.wire import Frame, decode, encode


def test_every_protocol_is_found_by_its_name_and_its_frame_prefix() -> None:
    assert set(PROTOCOLS) == {"logistic", "secureboost"}
    for name, protocol in PROTOCOLS.items():
        assert isinstance(protocol, TrainingProtocol)
        assert training_protocol(name) is protocol is BY_PREFIX[protocol.prefix]
    with pytest.raises(InputError, match="unknown algorithm 'xgboost'"):
        training_protocol("xgboost")


def test_the_platform_opens_a_job_of_any_registered_protocol_from_its_open_frame() -> None:
    """The training party has no per-algorithm branch: the frame prefix picks the protocol."""
    rng = np.random.default_rng(0)
    n = 400
    xb, xp = rng.normal(size=(n, 2)), pd.DataFrame({"p0": rng.normal(size=n), "p1": rng.normal(size=n)})
    y = (xb[:, 0] + xp["p0"].to_numpy() + rng.normal(size=n) > 0).astype(int)
    party = PlatformTrainingParty(lambda job_id, bank_id: xp)
    link = LocalLink(party)
    protocol = training_protocol("secureboost")
    params = SecureBoostParams(num_iterations=2, max_depth=2, num_leaves=4, max_bin=8, min_data_in_leaf=20)
    trainer = protocol.bank_trainer(link, job_id="j", params=params)
    part = trainer.fit(
        xb, y, features=["b0", "b1"], platform_features=["p0", "p1"], train_rows=np.arange(300)
    )
    assert trainer.joint_scores(part, xb, np.arange(300, n)).shape == (100,)
    assert party.model_part("j").platform_features == ["p0", "p1"]


def _roundtrip(message: Any) -> Any:
    return type(message).from_frame(decode(encode(message.to_frame("job"))))


def test_secureboost_messages_cross_the_wire_unchanged() -> None:
    rows = np.array([3, 1, 4], dtype=np.int64)
    hist = _roundtrip(msg.Hist([0, 2], True, 4, rows, [b"g", b"h"]))
    assert (hist.features, hist.full, hist.replicas, hist.gh) == ([0, 2], True, 4, [b"g", b"h"])
    assert hist.rows.tolist() == [3, 1, 4]
    ready = _roundtrip(msg.Ready([5, 3], [True, False], [0, 1], Packing(2, 21), [False, True]))
    assert ready.packing == Packing(2, 21) and ready.missing == [True, False]
    assert ready.categorical == [False, True]
    split = _roundtrip(msg.Split(1, -1, False, rows, rows[:1], [2, 5]))
    assert (split.feature, split.bin, split.cat_bins, split.valid.tolist()) == (1, -1, [2, 5], [3])
    histogram = _roundtrip(msg.Histogram([1], False, 2, [([0, 1], [2, -1])], [b"a", b"b"]))
    assert histogram.groups == [([0, 1], [2, -1])]
    finish = _roundtrip(msg.Finish({1: (3, 0.5)}))
    assert finish.importance == {1: (3, 0.5)}
    assert msg.unbits(msg.bits(np.array([True, False, True])), 3).tolist() == [True, False, True]


@pytest.mark.parametrize(
    ("frame", "complaint"),
    [
        (Frame("sb.hist", "j", {"features": [0], "full": "yes", "replicas": 1}, [b""]), "'full'"),
        (Frame("sb.hist", "j", {"features": ["0"], "full": True, "replicas": 1}, [b""]), "'features'"),
        (Frame("sb.hist", "j", {"features": [0], "full": True, "replicas": True}, [b""]), "'replicas'"),
        (Frame("sb.hist", "j", {"features": [0], "full": True, "replicas": 1}, [b"abc"]), "uint32"),
        (Frame("sb.split", "j", {"feature": 0, "bin": 1}, [b""]), "'default_left'"),
        (
            Frame(
                "sb.split", "j", {"feature": 0, "bin": -1, "default_left": False, "cat_bins": [1.5]}, [b""]
            ),
            "'cat_bins'",
        ),
        (
            Frame(
                "sb.ready",
                "j",
                {
                    "bins": [3],
                    "missing": [False],
                    "most_freq_bin": [0],
                    "packing": [1, 0],
                    "categorical": [1],
                },
            ),
            "'categorical'",
        ),
        (
            Frame("sb.open", "j", {"params": {"max_bin": 1}, "platform_features": ["p"]}, [b"", b""]),
            "not valid",
        ),
        (Frame("sb.open", "j", {"params": {}, "platform_features": ["p"]}, [b""]), "1 blobs"),
        (  # groups per feature, as before they ran across features: refused, not misread
            Frame("sb.histogram", "j", {"features": [0], "full": False, "replicas": 1, "bins": [[]]}),
            "'groups'",
        ),
        (
            Frame(
                "sb.histogram",
                "j",
                {"features": [0], "full": False, "replicas": 1, "groups": [[[0], [1]]]},
                [b"g"],
            ),
            "do not match",
        ),
    ],
)
def test_a_malformed_secureboost_frame_is_refused_with_its_field_named(frame: Frame, complaint: str) -> None:
    kinds = {m.KIND: m for m in (msg.Hist, msg.Histogram, msg.Split, msg.Open, msg.Ready)}
    with pytest.raises(FederationError, match=complaint):
        kinds[frame.kind].from_frame(frame)


def test_a_reply_of_another_kind_is_refused() -> None:
    with pytest.raises(FederationError, match=r"expected 'sb\.ready', got 'sb\.done'"):
        msg.read(msg.Done(1).to_frame("j"), msg.Ready)


def test_logistic_messages_cross_the_wire_unchanged() -> None:
    from fincredit.federation import _lr_messages as lr

    shares = _roundtrip(lr.Shares(3, [b"s0", b"s1"], [b"c0"], b"i"))
    assert (shares.iteration, shares.shares, shares.corrections, shares.intercept) == (
        3,
        [b"s0", b"s1"],
        [b"c0"],
        b"i",
    )
    ask = _roundtrip(lr.RangeAsk(2, np.array([0.5, -1.0])))
    assert ask.iteration == 2 and ask.totals is not None and ask.totals.tolist() == [0.5, -1.0]
    assert _roundtrip(lr.RangeAsk(0)).totals is None
    assert _roundtrip(lr.Ack(uploaded=4)) == lr.Ack(uploaded=4)
    assert _roundtrip(lr.Partial(np.array([1.5, 2.5]))).logits.tolist() == [1.5, 2.5]
    with pytest.raises(FederationError, match="one logit per row"):
        lr.Partial.from_frame(Frame("lr.partial", "j", {"rows": 3}, [np.zeros(2).tobytes()]))
    with pytest.raises(FederationError, match="'range'"):
        lr.Range.from_frame(Frame("lr.range", "j", {"iteration": 1, "range": "wide"}))
