"""The bank's HTTP link to the platform, and ``PlatformConnection``, the SDK's handle on the platform.

Frames travel as ``application/octet-stream`` bodies of ``POST {base_url}/federation/v1/frames``,
authenticated by the bank's bearer token. Both directions are size-checked before they are sent or
parsed, every request has a timeout, and TLS verification is on unless ``verify`` says otherwise (a
path to the platform's CA bundle, or ``False`` for a local test server only).
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from typing import Any

import httpx

from fincredit.federation._psi_bank import align
from fincredit.federation._psi_kkrt_bank import DEFAULT_BUCKET_ROWS
from fincredit.federation._psi_protocol import DEFAULT_CHUNK, Alignment, PsiProtocol
from fincredit.federation._runtime import Channel
from fincredit.federation.errors import PartyError, PartyTimeout
from fincredit.federation.wire import DEFAULT_MAX_FRAME_BYTES, Frame, Link, WireError, decode, encode

__all__ = ["FRAMES_PATH", "HttpLink", "PlatformConnection"]

FRAMES_PATH = "/federation/v1/frames"
_CONTENT_TYPE = "application/octet-stream"


class HttpLink:
    """A :class:`~fincredit.federation.wire.Link` over HTTP(S). Thread-safe (one ``httpx.Client``).

    ``transport`` lets tests plug in ``httpx.MockTransport`` or ``httpx.WSGITransport``; ``record=True``
    keeps every encoded request and response in ``transcript`` like ``LocalLink`` does.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 120.0,
        verify: bool | str | ssl.SSLContext = True,
        max_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        transport: httpx.BaseTransport | None = None,
        path: str = FRAMES_PATH,
        record: bool = False,
    ) -> None:
        if not token:
            raise ValueError("a bearer token is required to talk to the platform")
        self.url = base_url.rstrip("/") + path
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._client = httpx.Client(
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": _CONTENT_TYPE,
                "Accept": _CONTENT_TYPE,
            },
            timeout=timeout,
            verify=verify,
            transport=transport,
        )
        self.transcript: list[tuple[str, bytes]] | None = [] if record else None
        self.bytes_sent = 0
        self.bytes_received = 0

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, frame: Frame) -> Frame:
        return self.call_with_timeout(frame, self.timeout)

    def call_with_timeout(self, frame: Frame, timeout: float) -> Frame:
        body = encode(frame)
        if len(body) > self.max_bytes:
            raise WireError(
                f"frame of {len(body)} bytes exceeds the limit of {self.max_bytes}; send smaller chunks"
            )
        if self.transcript is not None:
            self.transcript.append(("bank->platform", body))
        try:
            with self._client.stream("POST", self.url, content=body, timeout=timeout) as response:
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
                    raise WireError(f"reply of {declared} bytes exceeds the limit of {self.max_bytes}")
                chunks, size = [], 0
                for part in response.iter_bytes():
                    size += len(part)
                    if size > self.max_bytes:
                        raise WireError(f"reply exceeds the limit of {self.max_bytes} bytes")
                    chunks.append(part)
                data = b"".join(chunks)
        except httpx.TimeoutException as exc:
            raise PartyTimeout(
                f"platform did not answer {frame.kind!r} within {timeout:g} s ({exc})"
            ) from None
        except httpx.HTTPError as exc:
            raise PartyError(f"cannot reach the platform at {self.url}: {exc}", code="transport") from None
        self.bytes_sent += len(body)
        self.bytes_received += len(data)
        if self.transcript is not None:
            self.transcript.append(("platform->bank", data))
        status = response.status_code
        if status in (401, 403):
            raise PartyError(f"platform refused the bank's credentials (HTTP {status})", code="unauthorized")
        if status == 413:
            raise PartyError("platform refused the frame as too large (HTTP 413)", code="limit")
        if response.headers.get("content-type", "").split(";")[0] != _CONTENT_TYPE:
            code = "transport" if status >= 500 else "protocol"
            raise PartyError(f"platform answered HTTP {status} without a frame: {data[:200]!r}", code=code)
        # An error frame may come with a 4xx/5xx status; the frame's own code is what the caller needs.
        return decode(data, max_bytes=self.max_bytes)


class PlatformConnection:
    """The bank's handle on the platform: a channel (deadlines, retries, error frames) over a link.

    ``PlatformConnection(base_url, token)`` talks HTTP; ``PlatformConnection.over(link)`` wraps any link
    (a ``LocalLink`` around the platform handler in tests and notebooks). It is itself a ``Link``:
    ``call(frame)`` returns the platform's reply or raises :class:`PartyError`.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 120.0,
        retries: int = 2,
        verify: bool | str | ssl.SSLContext = True,
        max_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        transport: httpx.BaseTransport | None = None,
        record: bool = False,
    ) -> None:
        self.link: Link = HttpLink(
            base_url,
            token,
            timeout=timeout,
            verify=verify,
            max_bytes=max_bytes,
            transport=transport,
            record=record,
        )
        self.channel = Channel(self.link, timeout=timeout, retries=retries)

    @classmethod
    def over(cls, link: Link, *, timeout: float = 120.0, retries: int = 2) -> PlatformConnection:
        self = cls.__new__(cls)
        self.link = link
        self.channel = Channel(link, timeout=timeout, retries=retries)
        return self

    def call(
        self,
        frame: Frame,
        *,
        timeout: float | None = None,
        idempotent: bool = False,
        expect: str | None = None,
    ) -> Frame:
        return self.channel.call(frame, timeout=timeout, idempotent=idempotent, expect=expect)

    def call_with_timeout(self, frame: Frame, timeout: float) -> Frame:
        # Lets a Channel wrapped around this connection pass its deadline down instead of a thread.
        return self.channel.call(frame, timeout=timeout)

    def align(
        self,
        job_id: str,
        ids: Sequence[str],
        *,
        protocol: PsiProtocol = "kkrt",
        scopes: Sequence[str] = (),
        chunk: int = DEFAULT_CHUNK,
        workers: int | None = None,
        progress: bool | None = None,
        bucket_rows: int = DEFAULT_BUCKET_ROWS,
    ) -> Alignment:
        """PSI with the platform's consenting subjects; see :func:`fincredit.federation.align`."""
        return align(
            self.channel,
            job_id,
            ids,
            protocol=protocol,
            scopes=scopes,
            chunk=chunk,
            workers=workers,
            progress=progress,
            bucket_rows=bucket_rows,
        )

    @property
    def bytes_exchanged(self) -> int:
        return int(getattr(self.link, "bytes_sent", 0)) + int(getattr(self.link, "bytes_received", 0))

    def close(self) -> None:
        closer: Any = getattr(self.link, "close", None)
        if callable(closer):
            closer()

    def __enter__(self) -> PlatformConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
