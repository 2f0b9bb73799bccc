"""HTTP behaviour that only a real server on a real connection shows: a 500 leaves the keep-alive
connection usable, and a body over the limit is refused with 413 however it is framed."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import Depends

from fincredit.platform.core.services import Services


@pytest.fixture(scope="module")
def live(services: Services) -> Iterator[str]:
    from fincredit.platform.core.app import create_app
    from fincredit.platform.core.deps import public

    app = create_app(services=services)

    @app.get("/api/v1/test-protocol-boom", dependencies=[Depends(public)])
    def boom() -> None:
        raise ZeroDivisionError("boom")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # lifespan off: the session's services outlive this server
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.05)
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one HTTP/1.1 response with a Content-Length body; (0, {}, b"") if the server hung up."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return 0, {}, b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def test_a_server_error_leaves_the_keep_alive_connection_open_for_the_next_request(live: str) -> None:
    host, port = live.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET /api/v1/test-protocol-boom HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = _response(sock)
        assert status == 500 and b"internal-error" in body
        assert headers.get("connection", "").lower() != "close"
        time.sleep(0.2)  # the old middleware dropped the connection right after the 500
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, _ = _response(sock)
        assert status == 200


def test_a_chunked_body_over_the_limit_is_refused_with_413(live: str, services: Services) -> None:
    limit = services.settings.max_body_bytes

    def chunks() -> Iterator[bytes]:
        yield b'{"identifier": "' + b"x" * limit
        yield b'", "name": "n"}'

    with httpx.Client(base_url=f"http://{live}", timeout=30) as client:
        r = client.post("/api/v1/subjects", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in r.request.headers
    assert r.status_code == 413, r.text
    assert r.json()["type"] == "/problems/payload-too-large"
