"""The party runtime never hangs and never hides a failure: deadlines, retries, limits, error frames."""

from __future__ import annotations

import threading
import time

import pytest

from fincredit.federation import (
    Channel,
    Frame,
    FrameRouter,
    JobState,
    JobStore,
    LocalLink,
    PartyError,
    PartyTimeout,
    PlatformPsiParty,
    WireError,
    align,
)
from fincredit.federation._psi_protocol import PROTOCOL
from fincredit.federation.wire import decode, encode

BANK = "bank-1"


def _router(party: PlatformPsiParty | None = None) -> FrameRouter:
    router = FrameRouter()
    router.register("psi.", (party or PlatformPsiParty(lambda r: ["A", "B"])).handle)
    return router


def test_oversized_frame_is_refused_by_the_receiving_side() -> None:
    router = _router()
    link = LocalLink(lambda f: router.handle(f, bank_id=BANK), max_bytes=4096)
    with pytest.raises(WireError, match="exceeds the limit of 4096"):
        Channel(link).call(Frame(kind="psi.reblind", job_id="j", meta={"offset": 0}, blobs=[b"\x09" * 8192]))


def test_oversized_body_gets_an_error_frame_from_the_router() -> None:
    router = FrameRouter(max_bytes=1024)
    reply = router.handle_bytes(encode(Frame(kind="psi.start", blobs=[b"x" * 2048])), bank_id=BANK)
    with pytest.raises(PartyError, match="exceeds the limit") as err:
        Channel(LocalLink(lambda f: f)).call(decode(reply))
    assert err.value.code == "wire"


def test_wrong_version_frame_is_refused() -> None:
    router = _router()
    body = encode(Frame(kind="psi.start", job_id="j", version=2))
    reply = decode(router.handle_bytes(body, bank_id=BANK))
    assert reply.kind == "error" and reply.meta["code"] == "wire"
    assert "version 2 is not supported" in reply.meta["message"]
    with pytest.raises(WireError, match="version 2"):
        Channel(LocalLink(lambda f: f)).call(Frame(kind="psi.start", version=2))


def test_chunk_over_the_platform_limit_is_refused() -> None:
    party = PlatformPsiParty(lambda r: ["A"], max_chunk=10)
    router = _router(party)
    channel = Channel(LocalLink(lambda f: router.handle(f, bank_id=BANK)))
    started = channel.call(
        Frame(kind="psi.start", job_id="job-l", meta={"protocol": PROTOCOL, "bank_size": 30, "scopes": []})
    )
    assert started.meta["max_chunk"] == 10
    with pytest.raises(PartyError, match="11 points in one frame exceeds the limit of 10") as err:
        channel.call(Frame(kind="psi.reblind", job_id="job-l", meta={"offset": 0}, blobs=[b"\x09" * 32 * 11]))
    assert err.value.code == "limit"


def test_align_respects_the_platform_chunk_limit() -> None:
    party = PlatformPsiParty(lambda r: [f"id{i}" for i in range(25)], max_chunk=10)
    router = _router(party)
    bank = align(LocalLink(lambda f: router.handle(f, bank_id=BANK)), "job-c", [f"id{i}" for i in range(30)])
    assert bank.size == 25


def test_another_bank_cannot_touch_a_job() -> None:
    party = PlatformPsiParty(lambda r: ["A", "B"])
    router = _router(party)
    align(LocalLink(lambda f: router.handle(f, bank_id=BANK)), "job-x", ["A"])
    intruder = Channel(LocalLink(lambda f: router.handle(f, bank_id="bank-2")))
    with pytest.raises(PartyError, match="no PSI job") as err:
        intruder.call(Frame(kind="psi.points", job_id="job-x", meta={"offset": 0, "count": 2}))
    assert err.value.code == "unknown_job"
    with pytest.raises(PartyError, match="taken"):
        align(intruder, "job-x", ["A"])


def test_platform_that_raises_mid_job_fails_the_bank_job_with_a_clear_message(tmp_path) -> None:
    party = PlatformPsiParty(lambda r: [f"s{i}" for i in range(50)])
    router = _router(party)

    def dies_on_points(frame: Frame) -> Frame:
        if frame.kind == "psi.oprf":
            raise RuntimeError("platform worker crashed")
        return router.handle(frame, bank_id=BANK)

    seen: list[str] = []

    def recording(frame: Frame) -> Frame:
        seen.append(frame.kind)
        return dies_on_points(frame)

    store = JobStore(tmp_path)
    store.create("job-d")
    with pytest.raises(PartyError, match="platform worker crashed"), store.step("job-d", JobState.ALIGNING):
        align(LocalLink(recording), "job-d", [f"s{i}" for i in range(10)], retries=1, timeout=5)
    record = store.get("job-d")
    assert record.state is JobState.FAILED and not record.running
    assert "platform worker crashed" in record.message
    # The idempotent step was retried once, then the bank told the platform to drop the job.
    assert seen.count("psi.oprf") == 2 and seen[-1] == "psi.abort"


def test_platform_internal_error_is_reported_without_its_details() -> None:
    def source(request: object) -> list[str]:
        raise KeyError("subject 91330200MA2H000001 has no consent row")

    router = _router(PlatformPsiParty(source))
    with pytest.raises(PartyError, match=r"internal error \(KeyError\)") as err:
        align(LocalLink(lambda f: router.handle(f, bank_id=BANK)), "job-i", ["A"])
    assert "91330200MA2H000001" not in str(err.value)
    assert err.value.code == "internal"


def test_platform_that_disappears_is_unknown_job_not_a_hang() -> None:
    holder = {"party": PlatformPsiParty(lambda r: [f"s{i}" for i in range(20)])}

    def handler(frame: Frame) -> Frame:
        if frame.kind == "psi.oprf":
            holder["party"] = PlatformPsiParty(lambda r: [])  # the platform restarted: jobs forgotten
        return _router(holder["party"]).handle(frame, bank_id=BANK)

    with pytest.raises(PartyError, match="expired or restarted") as err:
        align(LocalLink(handler), "job-r", ["s1", "s2"], timeout=5)
    assert err.value.code == "unknown_job"


def test_platform_that_stops_answering_times_out() -> None:
    release = threading.Event()

    def wedged(frame: Frame) -> Frame:
        release.wait(30)
        return frame

    started = time.monotonic()
    with pytest.raises(PartyTimeout, match=r"did not answer 'psi.start' for job 'job-t' within 0.3 s"):
        align(LocalLink(wedged), "job-t", ["A"], timeout=0.3, retries=1)
    elapsed = time.monotonic() - started
    release.set()
    # One try plus one retry (0.5 s backoff), then the abort is also bounded: no hang.
    assert elapsed < 6


def test_retries_cover_a_transient_failure_of_an_idempotent_call() -> None:
    router = _router()
    failures = {"left": 1}

    def flaky(frame: Frame) -> Frame:
        if frame.kind == "psi.points" and failures["left"]:
            failures["left"] -= 1
            raise ConnectionResetError("reset by peer")
        return router.handle(frame, bank_id=BANK)

    channel = Channel(LocalLink(flaky), timeout=5, retries=2, backoff=0.01)
    assert align(channel, "job-f", ["A", "Z"]).ids == ["A"]


def test_non_idempotent_calls_are_not_retried() -> None:
    calls = []

    def failing(frame: Frame) -> Frame:
        calls.append(frame.kind)
        raise ConnectionResetError("reset")

    with pytest.raises(PartyError, match="ConnectionResetError"):
        Channel(LocalLink(failing), retries=3, backoff=0.01).call(Frame(kind="lr.step"))
    assert calls == ["lr.step"]


def test_unexpected_reply_kind_is_a_protocol_error() -> None:
    with pytest.raises(PartyError, match=r"expected 'psi\.points'") as err:
        Channel(LocalLink(lambda f: Frame(kind="psi.start"))).call(
            Frame(kind="psi.points"), expect="psi.points"
        )
    assert err.value.code == "protocol"


def test_router_refuses_frames_no_party_handles() -> None:
    reply = _router().handle(Frame(kind="boost.histogram", job_id="j"), bank_id=BANK)
    assert reply.kind == "error" and reply.meta["code"] == "protocol"


def test_reblind_chunks_cannot_exceed_the_declared_bank_set() -> None:
    router = _router()
    channel = Channel(LocalLink(lambda f: router.handle(f, bank_id=BANK)))
    channel.call(
        Frame(kind="psi.start", job_id="j", meta={"protocol": PROTOCOL, "bank_size": 3, "scopes": []})
    )
    points = b"\x09" * 64
    channel.call(Frame(kind="psi.reblind", job_id="j", meta={"offset": 0}, blobs=[points]))
    channel.call(Frame(kind="psi.reblind", job_id="j", meta={"offset": 0}, blobs=[points]))  # a retry is fine
    with pytest.raises(PartyError, match="exceed the declared bank set"):
        channel.call(Frame(kind="psi.reblind", job_id="j", meta={"offset": 1}, blobs=[points]))
