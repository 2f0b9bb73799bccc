"""The bank's HTTP link against the platform handler behind a stand-in for the platform's endpoint.

The stand-in does what ``POST /federation/v1/frames`` in the platform service must do: authenticate the
bearer token to a bank id, refuse oversized bodies, hand the bytes to the ``FrameRouter``.
"""

from __future__ import annotations

import contextlib
import socketserver
import threading
import time
from collections.abc import Iterator
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest

from fincredit.federation import (
    FRAMES_PATH,
    Frame,
    FrameRouter,
    HttpLink,
    PartyError,
    PartyTimeout,
    PlatformConnection,
    PlatformPsiParty,
    WireError,
)

TOKENS = {"tok-bank-1": "bank-1", "tok-bank-2": "bank-2"}
MAX = 1 << 20


def _platform(router: FrameRouter, seen: list[httpx.Request] | None = None) -> httpx.MockTransport:
    def endpoint(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        if request.method != "POST" or request.url.path != FRAMES_PATH:
            return httpx.Response(404)
        auth = request.headers.get("authorization", "")
        bank_id = TOKENS.get(auth.removeprefix("Bearer "))
        if bank_id is None:
            return httpx.Response(401, json={"title": "unauthorized"})
        body = request.read()
        if len(body) > MAX:
            return httpx.Response(413)
        reply = router.handle_bytes(body, bank_id=bank_id)
        return httpx.Response(200, content=reply, headers={"content-type": "application/octet-stream"})

    return httpx.MockTransport(endpoint)


def _router(subjects: list[str]) -> tuple[FrameRouter, PlatformPsiParty]:
    party = PlatformPsiParty(lambda request: subjects)
    router = FrameRouter(max_bytes=MAX)
    router.register("psi.", party.handle)
    return router, party


def test_alignment_over_http_with_bearer_token() -> None:
    router, party = _router([f"S{i}" for i in range(100)])
    seen: list[httpx.Request] = []
    with PlatformConnection(
        "https://platform.test/", "tok-bank-1", transport=_platform(router, seen), timeout=10
    ) as conn:
        bank = conn.align("job-h", [f"S{i}" for i in range(50, 150)], chunk=30)
        assert conn.bytes_exchanged > 0
    assert bank.size == 50
    assert party.alignment("job-h", bank_id="bank-1").ids == bank.ids
    assert all(r.headers["authorization"] == "Bearer tok-bank-1" for r in seen)
    assert all(r.headers["content-type"] == "application/octet-stream" for r in seen)
    assert {str(r.url) for r in seen} == {"https://platform.test/federation/v1/frames"}


def test_unknown_token_is_unauthorized() -> None:
    router, _ = _router(["A"])
    conn = PlatformConnection("https://platform.test", "stolen", transport=_platform(router), retries=0)
    with pytest.raises(PartyError, match="refused the bank's credentials") as err:
        conn.align("job-u", ["A"])
    assert err.value.code == "unauthorized"


def test_another_banks_token_cannot_continue_a_job() -> None:
    router, _ = _router(["A", "B"])
    PlatformConnection("https://p.test", "tok-bank-1", transport=_platform(router)).align("job-s", ["A"])
    other = PlatformConnection("https://p.test", "tok-bank-2", transport=_platform(router))
    with pytest.raises(PartyError) as err:
        other.call(Frame(kind="psi.points", job_id="job-s", meta={"offset": 0, "count": 1}))
    assert err.value.code == "unknown_job"


def test_request_over_the_limit_is_not_sent() -> None:
    seen: list[httpx.Request] = []
    router, _ = _router(["A"])
    link = HttpLink("https://p.test", "tok-bank-1", transport=_platform(router, seen), max_bytes=1000)
    with pytest.raises(WireError, match="exceeds the limit of 1000"):
        link.call(Frame(kind="psi.reblind", blobs=[b"\x09" * 2000]))
    assert seen == []


def test_reply_over_the_limit_is_refused() -> None:
    huge = httpx.MockTransport(
        lambda r: httpx.Response(
            200, content=b"x" * 5000, headers={"content-type": "application/octet-stream"}
        )
    )
    link = HttpLink("https://p.test", "tok", transport=huge, max_bytes=1000)
    with pytest.raises(WireError, match="exceeds the limit of 1000"):
        link.call(Frame(kind="psi.start"))


def test_platform_413_is_a_limit_error() -> None:
    router, _ = _router(["A"])
    link = HttpLink("https://p.test", "tok-bank-1", transport=_platform(router))
    with pytest.raises(PartyError, match="413") as err:
        link.call(Frame(kind="psi.reblind", blobs=[b"\x09" * (MAX + 10)]))
    assert err.value.code == "limit"


def test_timeout_and_connection_failure_are_party_errors_and_retried() -> None:
    attempts: list[str] = []

    def unreachable(request: httpx.Request) -> httpx.Response:
        attempts.append(request.url.path)
        if len(attempts) == 1:
            raise httpx.ReadTimeout("timed out", request=request)
        raise httpx.ConnectError("connection refused", request=request)

    conn = PlatformConnection("https://p.test", "tok", transport=httpx.MockTransport(unreachable), retries=1)
    conn.channel.backoff = 0.01
    with pytest.raises(PartyError, match="cannot reach the platform") as err:
        conn.align("job-t", ["A"])
    assert err.value.code == "transport"
    # start (timeout), start retried (refused); the best-effort abort also fails fast.
    assert len(attempts) == 3

    timeouts = httpx.MockTransport(lambda r: (_ for _ in ()).throw(httpx.ReadTimeout("slow", request=r)))
    with pytest.raises(PartyTimeout, match="within 2 s"):
        HttpLink("https://p.test", "tok", transport=timeouts, timeout=2).call(Frame(kind="psi.start"))


def test_non_frame_server_error_is_a_transport_error() -> None:
    broken = httpx.MockTransport(lambda r: httpx.Response(502, text="Bad Gateway"))
    with pytest.raises(PartyError, match="HTTP 502 without a frame") as err:
        HttpLink("https://p.test", "tok", transport=broken).call(Frame(kind="psi.start"))
    assert err.value.code == "transport"


def test_tls_verification_is_on_by_default_and_configurable(tmp_path) -> None:
    assert (
        HttpLink("https://p.test", "tok")._client._transport._pool._ssl_context.verify_mode.name
        == "CERT_REQUIRED"
    )
    insecure = HttpLink("https://p.test", "tok", verify=False)
    assert insecure._client._transport._pool._ssl_context.verify_mode.name == "CERT_NONE"
    with pytest.raises(ValueError, match="bearer token"):
        HttpLink("https://p.test", "")


def _wsgi_endpoint(router: FrameRouter, *, delay: float = 0.0):
    """The endpoint as a tiny WSGI app: token -> bank id, size check, bytes -> router."""

    def app(environ, start_response):
        time.sleep(delay)
        bank_id = TOKENS.get(environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer "))
        if bank_id is None:
            start_response("401 Unauthorized", [("Content-Type", "text/plain")])
            return [b"unauthorized"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX:
            start_response("413 Payload Too Large", [("Content-Type", "text/plain")])
            return [b"too large"]
        reply = router.handle_bytes(environ["wsgi.input"].read(length), bank_id=bank_id)
        start_response(
            "200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(reply)))]
        )
        return [reply]

    return app


def test_alignment_through_a_wsgi_endpoint() -> None:
    router, party = _router([f"W{i}" for i in range(40)])
    transport = httpx.WSGITransport(app=_wsgi_endpoint(router))
    conn = PlatformConnection("http://platform.local", "tok-bank-2", transport=transport)
    bank = conn.align("job-w", [f"W{i}" for i in range(20, 60)], chunk=16)
    assert bank.size == 20
    assert party.alignment("job-w", bank_id="bank-2").ids == bank.ids


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def _serve(app) -> Iterator[str]:
    """A real HTTP server on the loopback interface, in a thread, for the duration of a test."""
    server = make_server("127.0.0.1", 0, app, server_class=ThreadingWSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


def test_alignment_over_a_real_loopback_http_server() -> None:
    router, party = _router([f"L{i}" for i in range(300)])
    with _serve(_wsgi_endpoint(router)) as url, PlatformConnection(url, "tok-bank-1", timeout=10) as conn:
        bank = conn.align("job-net", [f"L{i}" for i in range(200, 500)], chunk=64)
    assert bank.size == 100
    assert party.alignment("job-net", bank_id="bank-1").ids == bank.ids


def test_a_platform_that_stops_answering_over_http_times_out() -> None:
    router, _ = _router(["A"])
    started = time.monotonic()
    with (
        _serve(_wsgi_endpoint(router, delay=3.0)) as url,
        PlatformConnection(url, "tok-bank-1", timeout=0.5, retries=0) as conn,
        pytest.raises(PartyTimeout, match=r"did not answer 'psi\.start' within 0\.5 s"),
    ):
        conn.align("job-slow", ["A"])
    assert time.monotonic() - started < 8
