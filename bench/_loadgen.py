"""A lean HTTP/1.1 load generator for loopback benchmarks: keep-alive connections on raw asyncio streams,
requests pre-encoded as bytes, responses read by Content-Length.

Why not httpx: its async client spends about 3 ms of CPU per request here, so on a 2-core machine the
generator, not the server, would set the ceiling near 300 requests/s. This one spends a few tens of
microseconds, leaving the cores to the server and PostgreSQL. It speaks only what the benchmarks need
(no TLS, no chunked responses, no redirects) and refuses anything else loudly.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# (method, path, headers, body) for one request; the generator adds Host, Content-Length, keep-alive.
RequestSpec = tuple[str, str, dict[str, str], bytes]


def json_request(
    method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> RequestSpec:
    data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    h = dict(headers or {})
    if body is not None:
        h["Content-Type"] = "application/json"
    return method, path, h, data


def encode(host: str, spec: RequestSpec) -> bytes:
    method, path, headers, body = spec
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class LoadResult:
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return len(self.latencies)

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        return {
            "rps": len(lat) / self.seconds,
            "p50_ms": 1000 * lat[len(lat) // 2] if lat else None,
            "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None,
            "requests": len(lat),
            "statuses": dict(self.statuses),
        }


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        lowered = name.strip().lower()
        if lowered == b"content-length":
            length = int(value)
        elif lowered == b"transfer-encoding":
            raise RuntimeError("chunked responses are not supported by this load generator")
    if length is None:
        raise RuntimeError("response without Content-Length")
    return status, await reader.readexactly(length)


async def run(
    base_url: str | list[str],
    make: Callable[[random.Random], RequestSpec],
    *,
    concurrency: int,
    duration: float,
    warmup: float = 0.0,
    check: Callable[[int, bytes], None] | None = None,
) -> LoadResult:
    """``concurrency`` keep-alive connections, each sending its next request when the previous answer has
    arrived (a closed loop), for ``warmup`` + ``duration`` seconds; only the last ``duration`` counts.
    Several base URLs (instances of one service): connection ``k`` goes to URL ``k mod n``."""
    urls = [urlsplit(u) for u in ([base_url] if isinstance(base_url, str) else base_url)]
    result = LoadResult(seconds=duration)
    start = time.perf_counter()
    measure_from, stop = start + warmup, start + warmup + duration

    async def client(k: int) -> None:
        rng = random.Random(k)
        url = urls[k % len(urls)]
        host, port = url.hostname or "127.0.0.1", url.port or 80
        host_header = f"{host}:{port}"
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                t = time.perf_counter()
                if t >= stop:
                    return
                writer.write(encode(host_header, make(rng)))
                status, body = await _read_response(reader)
                done = time.perf_counter()
                if check is not None:
                    check(status, body)
                if t >= measure_from:
                    result.latencies.append(done - t)
                    result.statuses[status] = result.statuses.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(client(k) for k in range(concurrency)))
    return result


def load(
    base_url: str | list[str], make: Callable[[random.Random], RequestSpec], **options: Any
) -> dict[str, Any]:
    """:func:`run` from synchronous code (``options``: its keyword arguments); returns its summary."""
    return asyncio.run(run(base_url, make, **options)).summary()
