"""Bucketed PSI with its buckets as Ray tasks, reaching the platform over a real HTTP endpoint."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pandas as pd
import pytest

from fincredit.federation import FRAMES_PATH, FrameRouter, PlatformLinkSpec, PlatformPsiParty, align_parquet

ray = pytest.importorskip("ray")

TOKEN, BANK = "tok-bank-ray", "bank-ray"


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def platform_url(tmp_path: Path) -> Iterator[tuple[str, PlatformPsiParty]]:
    subjects = [f"9133{i:014d}" for i in range(0, 4000, 2)]
    party = PlatformPsiParty(lambda request: subjects)
    router = FrameRouter()
    router.register("psi.", party.handle)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ.get("HTTP_AUTHORIZATION") != f"Bearer {TOKEN}" or environ["PATH_INFO"] != FRAMES_PATH:
            start_response("401 Unauthorized", [("Content-Type", "text/plain")])
            return [b"unauthorized"]
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        reply = router.handle_bytes(body, bank_id=BANK)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [reply]

    server = make_server("127.0.0.1", 0, app, server_class=_Server, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", party
    finally:
        server.shutdown()


@pytest.mark.slow
def test_buckets_run_as_ray_tasks_against_the_platform_endpoint(
    tmp_path: Path, platform_url: tuple[str, PlatformPsiParty]
) -> None:
    url, party = platform_url
    ids = [f"9133{i:014d}" for i in range(3000)]
    path = tmp_path / "bank.parquet"
    pd.DataFrame({"uscc": ids}).to_parquet(path)
    try:
        bank = align_parquet(
            PlatformLinkSpec(url, TOKEN, timeout=120),
            "job-ray",
            path,
            id_column="uscc",
            workdir=tmp_path / "wd",
            bucket_rows=1000,
            use_ray=True,
            progress=False,
        )
    finally:
        ray.shutdown()
    assert sorted(bank.ids) == ids[::2]
    assert bank.alignment_id == party.alignment("job-ray", bank_id=BANK).alignment_id
    assert "tok-bank-ray" not in repr(PlatformLinkSpec(url, TOKEN))
