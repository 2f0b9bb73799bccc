"""The PSI, IV and scoring frames are declared message types, as the training frames are: each crosses
the wire unchanged, keeps the layout the parties have always exchanged, and a malformed one is refused
by naming its kind and the field at fault."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fincredit.federation import _iv_messages as iv
from fincredit.federation import _psi_messages as psi
from fincredit.federation import _scoring_messages as scoring
from fincredit.federation._messages import receive
from fincredit.federation.errors import FederationError, PartyError, ScoringRequestError
from fincredit.federation.scoring import ScoringHandler
from fincredit.federation.wire import Frame, decode, encode

POSITIONS = np.array([7, 0, 3], dtype=np.int64)


def _roundtrip(message: Any) -> Any:
    return type(message).from_frame(decode(encode(message.to_frame("job"))))


def _same(a: Any, b: Any) -> bool:
    """Field by field, numpy arrays by value."""
    for name in a.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray):
            if not np.array_equal(x, y):
                return False
        elif x != y:
            return False
    return type(a) is type(b)


IV_RESULT = iv.IvResult([iv.IvBins("rating", [3, 2], [b"b0", b"b1"]), iv.IvBins("noise", [5], [b"b2"])])
LR_REQUEST = scoring.ScoringRequest("m", "lr-partial", 2, 1, b"context", ["A1", "B2"], [b"ct"])
TREE_REQUEST = scoring.ScoringRequest(
    "m", "tree-groups", 1, 2, b"context", ["A1"], [b"g0", b"g1"], [[[4, 1]], [[5, 0]]]
)
SCORING_RESULT = scoring.ScoringResult("m", "lr-partial", 3, 2, [b"ct", b""], [(1, "no_consent")], [1])
MESSAGES: list[Any] = [
    psi.Start("ecdh-psi/x25519/sha512-256/v1", 12, ["tax"]),
    psi.Start("kkrt16-psi/aes128-ed25519/v1", 12, [], buckets=2, nonce="ab" * 16),
    psi.Started("ecdh-psi/x25519/sha512-256/v1", 30, 100),
    psi.Started("kkrt16-psi/aes128-ed25519/v1", 30, 100, [10, 20], "cd" * 16),
    psi.Reblind(4, b"\x09" * 64),
    psi.PointsAsk(0, 5),
    psi.Points(0, b"\x01" * 32),
    psi.Finish(POSITIONS, b"\x02" * 96),
    psi.KkrtFinish(3),
    psi.Finished(3, "f" * 32),
    psi.Abort(),
    psi.Base(1, b"\x03" * 32),
    psi.OprfAsk(1, 128, 5, b"\x04" * 64),
    psi.Oprf(1, b"\x05" * 48),
    psi.Match(1, POSITIONS),
    psi.Matched(1, 3),
    iv.IvRequest(5000, 10, b"context", [b"y0", b"y1"]),
    IV_RESULT,
    LR_REQUEST,
    TREE_REQUEST,
    SCORING_RESULT,
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: f"{m.KIND}:{type(m).__name__}")
def test_every_message_crosses_the_wire_unchanged(message: Any) -> None:
    frame = message.to_frame("job")
    assert frame.kind == message.KIND and frame.job_id == "job"
    assert _same(_roundtrip(message), message)


def test_the_frames_keep_the_layout_the_parties_have_always_exchanged() -> None:
    """Same kinds, meta keys (in order) and blob order as the frames built by hand before."""
    kkrt = psi.Start("kkrt16-psi/aes128-ed25519/v1", 12, ["s"], buckets=2, nonce="00" * 16).to_frame("j")
    assert list(kkrt.meta) == ["protocol", "bank_size", "scopes", "buckets", "nonce"] and not kkrt.blobs
    assert list(psi.Start("ecdh", 1).to_frame("j").meta) == ["protocol", "bank_size", "scopes"]
    started = psi.Started("kkrt", 30, 100, [10, 20], "cd" * 16).to_frame("j")
    assert list(started.meta) == ["protocol", "platform_size", "bucket_sizes", "nonce", "max_chunk"]
    assert list(psi.Started("ecdh", 30, 100).to_frame("j").meta) == ["protocol", "platform_size", "max_chunk"]
    # Match positions travel big-endian: the alignment id hashes them in that form.
    finish = psi.Finish(POSITIONS, b"v").to_frame("j")
    assert finish.meta == {"size": 3} and finish.blobs == [POSITIONS.astype(">u4").tobytes(), b"v"]
    match = psi.Match(2, POSITIONS).to_frame("j")
    assert match.meta == {"bucket": 2, "size": 3} and match.blobs == [POSITIONS.astype(">u4").tobytes()]
    assert psi.OprfAsk(1, 128, 5, b"u").to_frame("j").meta == {"bucket": 1, "bins": 128, "tweak": 5}
    assert psi.Abort().to_frame("j") == Frame("psi.abort", "j")
    request = iv.IvRequest(5000, 10, b"ctx", [b"y0", b"y1"]).to_frame("j")
    assert request.meta == {"n_rows": 5000, "bins": 10} and request.blobs == [b"ctx", b"y0", b"y1"]
    result = IV_RESULT.to_frame("j")
    assert result.meta == {"features": [{"name": "rating", "sizes": [3, 2]}, {"name": "noise", "sizes": [5]}]}
    assert result.blobs == [b"b0", b"b1", b"b2"]
    ask = TREE_REQUEST.to_frame("j")
    assert list(ask.meta) == ["model_id", "protocol", "n_rows", "columns", "groups"]
    assert ask.blobs == [b"context", b"A1", b"g0", b"g1"]
    lr = LR_REQUEST.to_frame("j")
    assert "groups" not in lr.meta and lr.blobs == [b"context", b"A1\nB2", b"ct"]
    answer = SCORING_RESULT.to_frame("j")
    assert answer.meta == {
        "model_id": "m",
        "protocol": "lr-partial",
        "n_rows": 3,
        "scored": 2,
        "refused": [[1, "no_consent"]],
        "empty_chunks": [1],
    }


def test_optional_fields_of_older_senders_keep_their_defaults() -> None:
    """An ECDH start may leave out its scopes; an IV request its bins (10)."""
    start = psi.Start.from_frame(Frame("psi.start", "j", {"protocol": "p", "bank_size": 3}))
    assert start.scopes == [] and start.buckets is None and start.nonce is None
    assert iv.IvRequest.from_frame(Frame("iv.request", "j", {"n_rows": 3}, [b"c", b"y"])).bins == 10


START = {"protocol": "p", "bank_size": 3, "scopes": []}
REQUEST = {"model_id": "m", "protocol": "lr-partial", "n_rows": 1, "columns": 1}
RESULT = {"model_id": "m", "protocol": "p", "n_rows": 2, "scored": 1, "refused": [], "empty_chunks": []}
MALFORMED: list[tuple[type[Any], Frame, str]] = [
    (psi.Start, Frame("psi.start", "j", START | {"protocol": 1}), "'protocol'"),
    (psi.Start, Frame("psi.start", "j", START | {"bank_size": "3"}), "'bank_size'"),
    (psi.Start, Frame("psi.start", "j", START | {"bank_size": True}), "'bank_size'"),
    (psi.Start, Frame("psi.start", "j", START | {"scopes": ["a", 2]}), "'scopes'"),
    (psi.Start, Frame("psi.start", "j", START | {"buckets": "2"}), "'buckets'"),
    (psi.Start, Frame("psi.start", "j", START | {"nonce": 7}), "'nonce'"),
    (psi.Started, Frame("psi.start", "j", {"protocol": "p", "platform_size": 3}), "'max_chunk'"),
    (
        psi.Started,
        Frame(
            "psi.start", "j", {"protocol": "p", "platform_size": 3, "max_chunk": 9, "bucket_sizes": [1, "2"]}
        ),
        "'bucket_sizes'",
    ),
    (psi.Reblind, Frame("psi.reblind", "j", {"offset": "0"}, [b"x"]), "'offset'"),
    (psi.Reblind, Frame("psi.reblind", "j", {"offset": 0}), "0 blobs, expected 1"),
    (psi.PointsAsk, Frame("psi.points", "j", {"offset": 0}), "'count'"),
    (psi.Points, Frame("psi.points", "j", {"offset": 0}, [b"a", b"b"]), "2 blobs, expected 1"),
    (psi.Finish, Frame("psi.finish", "j", {"size": 1}, [b"\x00" * 4]), "1 blobs, expected 2"),
    (psi.Finish, Frame("psi.finish", "j", {"size": 1}, [b"\x00" * 5, b""]), "4-byte"),
    (psi.Finish, Frame("psi.finish", "j", {"size": 2}, [b"\x00" * 4, b""]), "'size'"),
    (psi.KkrtFinish, Frame("psi.finish", "j", {"size": None}), "'size'"),
    (psi.Finished, Frame("psi.finish", "j", {"size": 1}), "'alignment_id'"),
    (psi.Base, Frame("psi.base", "j", {"bucket": 0}), "0 blobs"),
    (psi.Base, Frame("psi.base", "j", {"bucket": 1.0}, [b"p"]), "'bucket'"),
    (psi.OprfAsk, Frame("psi.oprf", "j", {"bucket": 0, "bins": 64}, [b"u"]), "'tweak'"),
    (psi.Oprf, Frame("psi.oprf", "j", {}, [b"v"]), "'bucket'"),
    (psi.Match, Frame("psi.match", "j", {"bucket": 0, "size": 1}, [b"\x00" * 3]), "4-byte"),
    (psi.Match, Frame("psi.match", "j", {"bucket": 0, "size": 2}, [b"\x00" * 4]), "'size'"),
    (psi.Matched, Frame("psi.match", "j", {"bucket": 0}), "'size'"),
    (iv.IvRequest, Frame("iv.request", "j", {"n_rows": 3}, [b"context"]), "1 blobs, expected at least 2"),
    (iv.IvRequest, Frame("iv.request", "j", {"n_rows": 3, "bins": "ten"}, [b"c", b"y"]), "'bins'"),
    (iv.IvRequest, Frame("iv.request", "j", {"bins": 10}, [b"c", b"y"]), "'n_rows'"),
    (
        iv.IvResult,
        Frame("iv.result", "j", {"features": [{"name": "f", "sizes": ["1"]}]}, [b"b"]),
        "'features'",
    ),
    (
        iv.IvResult,
        Frame("iv.result", "j", {"features": [{"name": "f", "sizes": [1, 1]}]}, [b"b"]),
        "one per bin",
    ),
    (iv.IvResult, Frame("iv.result", "j", {}), "'features'"),
    (
        scoring.ScoringRequest,
        Frame("scoring.request", "j", REQUEST | {"n_rows": "1"}, [b"c", b"i"]),
        "'n_rows'",
    ),
    (
        scoring.ScoringRequest,
        Frame("scoring.request", "j", REQUEST | {"model_id": 3}, [b"c", b"i"]),
        "'model_id'",
    ),
    (
        scoring.ScoringRequest,
        Frame("scoring.request", "j", REQUEST | {"columns": None}, [b"c", b"i"]),
        "'columns'",
    ),
    (
        scoring.ScoringRequest,
        Frame("scoring.request", "j", REQUEST | {"groups": {}}, [b"c", b"i"]),
        "'groups'",
    ),
    (scoring.ScoringRequest, Frame("scoring.request", "j", REQUEST, [b"c"]), "1 blobs"),
    (scoring.ScoringRequest, Frame("scoring.request", "j", REQUEST, [b"c", b"\xff"]), "identifiers"),
    (scoring.ScoringResult, Frame("scoring.result", "j", RESULT | {"scored": "1"}), "'scored'"),
    (scoring.ScoringResult, Frame("scoring.result", "j", RESULT | {"refused": [[2, "x"]]}), "'refused'"),
    (scoring.ScoringResult, Frame("scoring.result", "j", RESULT | {"refused": [[0, 1]]}), "'refused'"),
    (
        scoring.ScoringResult,
        Frame("scoring.result", "j", RESULT | {"empty_chunks": [True]}),
        "'empty_chunks'",
    ),
]


@pytest.mark.parametrize(
    ("message", "frame", "complaint"), MALFORMED, ids=[f"{f.kind}:{c}" for _, f, c in MALFORMED]
)
def test_a_malformed_frame_is_refused_naming_its_kind_and_field(
    message: type[Any], frame: Frame, complaint: str
) -> None:
    with pytest.raises(FederationError, match=complaint) as err:
        message.from_frame(frame)
    assert str(err.value).startswith(frame.kind + ":")


def test_every_message_type_has_a_malformed_case() -> None:
    declared = {type(m) for m in MESSAGES} - {psi.Abort}  # psi.abort has no field to get wrong
    assert declared == {m for m, _, _ in MALFORMED}


def test_a_malformed_psi_or_iv_frame_is_the_senders_protocol_error() -> None:
    """PSI and IV refusals have always been PartyError(code="protocol"), on either side of the link."""
    with pytest.raises(PartyError, match=r"psi\.points: field 'count'") as err:
        receive(Frame("psi.points", "j", {"offset": 0}), psi.PointsAsk)
    assert err.value.code == "protocol"
    with pytest.raises(PartyError, match=r"expected 'iv\.result', got 'iv\.request'") as err:
        receive(Frame("iv.request", "j"), iv.IvResult)
    assert err.value.code == "protocol"


def test_the_psi_platform_answers_a_malformed_frame_with_a_protocol_error_frame() -> None:
    from fincredit.federation import FrameRouter, PlatformPsiParty

    router = FrameRouter()
    router.register("psi.", PlatformPsiParty(lambda request: ["A"]).handle)
    reply = router.handle(Frame("psi.start", "j", START | {"bank_size": "3"}), bank_id="bank")
    assert (
        reply.kind == "error" and reply.meta["code"] == "protocol" and "'bank_size'" in reply.meta["message"]
    )
    ecdh = START | {"protocol": "ecdh-psi/x25519/sha512-256/v1", "bank_size": -1}
    limit = router.handle(Frame("psi.start", "j", ecdh), bank_id="bank")
    assert limit.meta["code"] == "limit"  # a size out of range is still a limit, checked by the party


def test_a_malformed_scoring_request_is_a_bad_request_before_any_lookup() -> None:
    looked_up: list[str] = []

    def models(bank_id: str, model_id: str) -> None:
        looked_up.append(model_id)

    handler = ScoringHandler(models=models, platform_features=lambda ids, names: (np.zeros(0), np.zeros(0)))
    frame = Frame("scoring.request", "j", REQUEST | {"columns": "1"}, [b"c", b"i"])
    with pytest.raises(ScoringRequestError, match=r"scoring\.request: field 'columns'") as err:
        handler.score(frame, "bank")
    assert err.value.status == 400 and looked_up == []
    with pytest.raises(ScoringRequestError, match=r"expected 'scoring\.request'"):
        handler.score(Frame("scoring.result", "j", RESULT), "bank")
