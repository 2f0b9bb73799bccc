"""The platform's scoring handler: per-row refusal, metering counts, keys, and malformed requests."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import tenseal as ts

from fincredit.federation.errors import (
    PartyError,
    ScoringCiphertextError,
    ScoringContextError,
    ScoringError,
    ScoringRequestError,
)
from fincredit.federation.joint_model import BankLogisticPart, PlatformLogisticPart
from fincredit.federation.scorer import EncryptedScorer
from fincredit.federation.scoring import (
    DEFAULT_BFV_PARAMS,
    LR_BFV_PARAMS,
    LR_PARTIAL,
    REQUEST_KIND,
    RESULT_KIND,
    BfvParams,
    CkksParams,
    LogisticDeposit,
    ScoringHandler,
    ScoringLimits,
    ScoringReport,
    make_bank_context,
    plaintext_logistic_logit,
    public_context_bytes,
    sigmoid,
)
from fincredit.federation.wire import Frame, LocalLink, decode

BANK = BankLogisticPart("m", ["x1", "x2"], [0.7, -1.1], 0.2)
PLATFORM = PlatformLogisticPart("m", ["q1"], [0.9])
RNG = np.random.default_rng(1)
IDS = [f"9133020{i:011d}" for i in range(12)]
XB = RNG.normal(size=(12, 2))
XP = RNG.normal(size=(12, 1))
KNOWN = {s: XP[i] for i, s in enumerate(IDS) if i != 5}  # subject 5 is unknown to the platform
CONSENT = {s for i, s in enumerate(IDS) if i not in (2, 9)}  # subjects 2 and 9 hold no consent


class Service:
    """What the platform service wraps around the handler: consent, feature lookup, metering."""

    def __init__(self, *, limits: ScoringLimits | None = None) -> None:
        self.metered: list[ScoringReport] = []
        self.authorize_calls = 0
        self.feature_lookups: list[list[str]] = []
        self.handler = ScoringHandler(
            models=self.models, platform_features=self.features, authorize=self.authorize, limits=limits
        )

    def models(self, bank_id: str, model_id: str) -> LogisticDeposit | None:
        return LogisticDeposit(PLATFORM, BANK) if (bank_id, model_id) == ("bank-a", "m") else None

    def authorize(self, bank_id: str, ids: list[str]) -> list[str | None]:
        self.authorize_calls += 1
        return [None if s in CONSENT else "no_consent" for s in ids]

    def features(self, ids: list[str], names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        assert names == ["q1"]
        self.feature_lookups.append(ids)
        matrix = np.array([KNOWN.get(s, [np.nan]) for s in ids])
        return matrix, np.array([s in KNOWN for s in ids])

    def endpoint(self, frame: Frame) -> Frame:
        try:
            reply, report = self.handler.score(frame, "bank-a")
        except ScoringError as exc:
            from fincredit.federation.scoring import error_frame

            return error_frame(exc, frame.job_id)
        self.metered.append(report)
        return reply


def _df(ids: list[str] = IDS, xb: np.ndarray = XB) -> pd.DataFrame:
    return pd.DataFrame({"id": ids, "x1": xb[:, 0], "x2": xb[:, 1]})


def test_rows_without_consent_or_unknown_to_the_platform_are_refused_and_the_rest_scored() -> None:
    service = Service()
    scorer = EncryptedScorer(LocalLink(service.endpoint), BANK)

    out = scorer.score(_df())

    reasons = dict(zip(out["id"], out["refused"], strict=True))
    assert reasons[IDS[2]] == reasons[IDS[9]] == "no_consent"
    assert reasons[IDS[5]] == "unknown_subject"
    scored = out["refused"].isna().to_numpy()
    assert scored.sum() == 9 and out.loc[~scored, "probability"].isna().all()
    expected = sigmoid(plaintext_logistic_logit(BANK, PLATFORM, XB, XP))
    assert np.max(np.abs(out.loc[scored, "probability"].to_numpy() - expected[scored])) < 1e-4
    # Non-consenting subjects' features are never even looked up.
    assert IDS[2] not in service.feature_lookups[0] and IDS[9] not in service.feature_lookups[0]


def test_the_report_counts_one_metered_unit_per_scored_applicant() -> None:
    service = Service()
    scorer = EncryptedScorer(LocalLink(service.endpoint), BANK)
    scorer.score(_df())
    (report,) = service.metered
    assert report.scored == 9 == scorer.stats.scored
    assert set(report.scored_ids) == set(IDS) - {IDS[2], IDS[5], IDS[9]}
    assert {(row, reason) for row, _, reason in report.refused} == {
        (2, "no_consent"),
        (9, "no_consent"),
        (5, "unknown_subject"),
    }


def test_a_subject_repeated_in_one_batch_is_scored_and_metered_once() -> None:
    service = Service()
    ids = [IDS[0], IDS[1], IDS[0]]
    out = EncryptedScorer(LocalLink(service.endpoint), BANK).score(_df(ids, XB[:3]))
    assert out["refused"].tolist()[2] == "duplicate_in_batch"
    assert service.metered[0].scored == 2


def test_large_batches_are_split_into_requests_and_metered_per_request() -> None:
    service = Service()
    ids = [IDS[i % 12] + f"-{i}" for i in range(9000)]
    xb = RNG.normal(size=(9000, 2))
    scorer = EncryptedScorer(LocalLink(service.endpoint), BANK, max_request_rows=4096, progress=True)
    out = scorer.score(_df(ids, xb))
    assert scorer.stats.requests == 3 and len(service.metered) == 3
    assert out["refused"].eq("no_consent").all()  # none of these made-up ids holds a consent
    assert sum(r.scored for r in service.metered) == 0 and scorer.stats.refused == 9000


def test_the_platform_never_holds_a_secret_key() -> None:
    service = Service()
    link = LocalLink(service.endpoint, record=True)
    scorer = EncryptedScorer(link, BANK)
    scorer.score(_df())

    for loaded in service.handler._contexts._items.values():
        assert not loaded.context.is_private()
        assert not loaded.context.has_secret_key()
    assert link.transcript is not None
    sent = [data for direction, data in link.transcript if direction == "bank->platform"]
    for data in sent:
        ctx = ts.context_from(decode(data).blobs[0])
        assert not ctx.is_private()
        with pytest.raises(ValueError):
            ctx.secret_key()


def _request(
    ctx_bytes: bytes | None = None,
    *,
    n: int = 3,
    cts: list[bytes] | None = None,
    columns: int = 2,
    **meta: object,
) -> Frame:
    ctx = make_bank_context()
    if cts is None:
        cts = [ts.ckks_vector(ctx, RNG.normal(size=n).tolist()).serialize() for _ in range(columns)]
    body = {"model_id": "m", "protocol": "lr-deposited", "n_rows": n, "columns": columns} | meta
    ids = "\n".join(IDS[:n]).encode()
    return Frame(REQUEST_KIND, "job", body, [ctx_bytes or public_context_bytes(ctx), ids, *cts])


def _refused(frame: Frame, **kwargs: object) -> ScoringError:
    service = Service(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ScoringError) as err:
        service.handler.score(frame, "bank-a")
    assert service.metered == []
    return err.value


def test_a_well_formed_request_is_accepted() -> None:
    reply, report = Service().handler.score(_request(), "bank-a")
    assert reply.kind == RESULT_KIND and report.scored == 2  # IDS[2] holds no consent


def test_a_context_that_carries_the_secret_key_is_refused() -> None:
    ctx = make_bank_context()
    err = _refused(_request(ctx.serialize(save_secret_key=True)))
    assert isinstance(err, ScoringContextError) and err.code == "secret_key" and 400 <= err.status < 500


@pytest.mark.parametrize(
    ("degree", "moduli", "scale_bits"),
    [(4096, [40, 20, 40], 20), (8192, [60, 40, 40, 60], 40), (8192, [60, 40, 60], 30)],
)
def test_contexts_with_parameters_outside_the_allowed_set_are_refused(
    degree: int, moduli: list[int], scale_bits: int
) -> None:
    ctx = make_bank_context(CkksParams(degree, tuple(moduli), scale_bits))
    err = _refused(_request(public_context_bytes(ctx)))
    assert isinstance(err, ScoringContextError) and "not allowed" in str(err)


def test_garbage_and_oversized_contexts_are_refused() -> None:
    assert isinstance(_refused(_request(b"\x00garbage" * 10)), ScoringContextError)
    err = _refused(_request(b"x" * 5000), limits=ScoringLimits(max_context_bytes=4096))
    assert err.code == "too_large" and err.status == 413


def test_garbage_truncated_and_foreign_ciphertexts_are_refused() -> None:
    good = _request().blobs[2]
    other = make_bank_context(CkksParams(4096, (40, 20, 40), 20))
    foreign = ts.ckks_vector(other, [1.0, 2.0, 3.0]).serialize()
    for bad in (b"\x01" * 1000, good[: len(good) // 2], foreign, b""):
        err = _refused(_request(cts=[good, bad]))
        assert isinstance(err, ScoringCiphertextError), bad[:10]


def test_a_ciphertext_packing_the_wrong_number_of_rows_is_refused() -> None:
    ctx = make_bank_context()
    wrong = [ts.ckks_vector(ctx, [1.0] * 4).serialize() for _ in range(2)]
    assert isinstance(_refused(_request(cts=wrong)), ScoringCiphertextError)


def test_oversized_ciphertexts_are_refused_before_parsing() -> None:
    err = _refused(_request(cts=[b"\x00" * 2_000_000, b"\x00"]))
    assert isinstance(err, ScoringCiphertextError) and err.status == 413


def test_mismatched_ciphertext_counts_are_refused_before_consent_is_checked() -> None:
    service = Service()
    for frame in (_request(columns=1), _request(columns=3), _request(cts=[_request().blobs[2]])):
        with pytest.raises(ScoringRequestError):
            service.handler.score(frame, "bank-a")
    assert service.authorize_calls == 0 and service.metered == []


def test_inconsistent_requests_are_refused() -> None:
    assert _refused(_request(n_rows=10**9)).status == 413
    assert isinstance(_refused(_request(protocol="lr-magic")), ScoringRequestError)
    assert _refused(_request(model_id="other")).code == "unknown_model"
    bad_ids = _request()
    bad_ids.blobs[1] = b"only-one-id"
    assert isinstance(_refused(bad_ids), ScoringRequestError)


def test_another_bank_cannot_use_the_model() -> None:
    with pytest.raises(ScoringError) as err:
        Service().handler.score(_request(), "bank-b")
    assert err.value.code == "unknown_model"


def test_errors_reach_the_bank_sdk_as_typed_exceptions_through_the_wire() -> None:
    service = Service()
    scorer = EncryptedScorer(LocalLink(service.handler.local("bank-b")), BANK)
    with pytest.raises(ScoringError) as err:
        scorer.score(_df())
    assert err.value.code == "unknown_model"
    # Through the runtime's channel an error frame is a PartyError carrying the same code.
    from fincredit.federation import PlatformConnection

    conn = PlatformConnection.over(LocalLink(service.handler.local("bank-b")), retries=0)
    with pytest.raises(PartyError) as perr:
        EncryptedScorer(conn, BANK, protocol=LR_PARTIAL).score(_df())
    assert perr.value.code == "unknown_model"


@pytest.mark.slow  # a child interpreter imports the package: ~2 s idle, far more on a loaded machine
def test_fuzzed_ciphertexts_never_crash_the_platform_process() -> None:
    """TenSEAL parses attacker bytes; run a fuzz campaign in a child so a segfault would be visible."""
    code = textwrap.dedent(
        """
        import random, numpy as np, tenseal as ts
        from fincredit.federation.errors import ScoringError
        from fincredit.federation.scoring import (
            LogisticDeposit, ScoringHandler, make_bank_context, public_context_bytes, REQUEST_KIND)
        from fincredit.federation.joint_model import BankLogisticPart, PlatformLogisticPart
        from fincredit.federation.wire import Frame
        bank = BankLogisticPart("m", ["x"], [1.0], 0.0)
        handler = ScoringHandler(
            models=lambda b, m: LogisticDeposit(PlatformLogisticPart("m", ["q"], [1.0]), bank),
            platform_features=lambda q, n: (np.zeros((len(q), 1)), np.ones(len(q), bool)))
        ctx = make_bank_context()
        pub = public_context_bytes(ctx)
        good = ts.ckks_vector(ctx, [0.5] * 8).serialize()
        rng = random.Random(42)
        outcomes = {"refused": 0, "scored": 0}
        for i in range(60):
            kind = i % 4
            if kind == 0:
                blob = rng.randbytes(rng.randint(0, 300_000))
            elif kind == 1:
                blob = good[: rng.randint(0, len(good) - 1)]
            else:
                b = bytearray(good)
                for _ in range(rng.randint(1, 8)):
                    j = rng.randrange(200 if kind == 2 else len(b))
                    b[j] ^= 1 << rng.randrange(8)
                blob = bytes(b)
            ctx_blob = pub
            if i % 10 == 9:
                c = bytearray(pub); c[rng.randrange(len(c))] ^= 0xFF; ctx_blob = bytes(c)
            frame = Frame(REQUEST_KIND, "f", {"model_id": "m", "protocol": "lr-deposited", "n_rows": 8,
                          "columns": 1}, [ctx_blob, "\\n".join(f"s{k}" for k in range(8)).encode(), blob])
            try:
                handler.score(frame, "bank")
                outcomes["scored"] += 1
            except ScoringError:
                outcomes["refused"] += 1
        print(outcomes)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "'refused'" in done.stdout


def test_no_feature_value_or_score_crosses_the_wire_in_clear() -> None:
    service = Service()
    link = LocalLink(service.endpoint, record=True)
    out = EncryptedScorer(link, BANK).score(_df())
    assert link.transcript is not None
    wire = b"".join(data for _, data in link.transcript)
    secrets = [*XB.ravel(), *XP.ravel(), *out["score"].dropna()]
    for value in secrets:
        assert np.float64(value).tobytes() not in wire
        assert np.float32(value).tobytes() not in wire
        assert repr(float(value)).encode() not in wire
        assert f"{value:.6f}".encode() not in wire
    headers = [decode(data) for _, data in link.transcript]
    assert all(IDS[0] not in str(frame.meta) for frame in headers)  # identifiers only in a blob


def test_the_handler_mounts_on_the_runtime_router() -> None:
    from fincredit.federation import FrameRouter

    service = Service()
    router = FrameRouter()
    router.register("scoring.", service.handler)
    scorer = EncryptedScorer(LocalLink(lambda frame: router.handle(frame, bank_id="bank-a")), BANK)
    out = scorer.score(_df())
    assert out["refused"].isna().sum() == 9
    wrong_bank = EncryptedScorer(LocalLink(lambda frame: router.handle(frame, bank_id="bank-z")), BANK)
    with pytest.raises(ScoringError) as err:
        wrong_bank.score(_df())
    assert err.value.code == "unknown_model" and err.value.status == 404


def test_each_protocol_needs_its_own_scheme_and_bfv_keys_stay_at_the_bank() -> None:
    bfv = make_bank_context(DEFAULT_BFV_PARAMS)
    err = _refused(_request(public_context_bytes(bfv)))  # a BFV context for lr-deposited
    assert isinstance(err, ScoringContextError) and "CKKS" in str(err)
    err = _refused(_request(bfv.serialize(save_secret_key=True)))
    assert err.code == "secret_key"
    wrong_t = make_bank_context(BfvParams(8192, (60, 60, 60), 786433))
    assert "not allowed" in str(_refused(_request(public_context_bytes(wrong_t))))


def test_masked_lr_needs_the_deposit_and_a_bfv_context() -> None:
    bfv = make_bank_context(LR_BFV_PARAMS)
    ckks_for_masked = _request(protocol="lr-masked", columns=2)
    assert isinstance(_refused(ckks_for_masked), ScoringContextError)  # CKKS context, masked protocol
    payload = ts.bfv_vector(bfv, [1] * 7).serialize()
    frame = _request(public_context_bytes(bfv), protocol="lr-masked", columns=2, cts=[payload])
    reply, report = Service().handler.score(frame, "bank-a")
    assert report.scored == 2 and len(reply.blobs) == 1
    undeposited = ScoringHandler(models=lambda b, m: PLATFORM, platform_features=Service().features)
    with pytest.raises(ScoringError) as err:
        undeposited.score(frame, "bank-a")
    assert err.value.code == "protocol_mismatch"
