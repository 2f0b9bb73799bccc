"""Typed, versioned, size-limited frames exchanged between the bank party and the platform party.

A frame is a small JSON header (kind, version, job, meta) followed by opaque binary blobs
(ciphertexts, curve points). The header never carries raw features, labels or identifiers; blobs
carry only encrypted or blinded values. Both the HTTP transport and the in-process link move these
exact bytes, so a test that captures them sees what a network observer would.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from fincredit.federation.errors import WireError

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "WIRE_VERSION",
    "Frame",
    "Link",
    "LocalLink",
    "WireError",
    "decode",
    "encode",
]

WIRE_VERSION = 1
DEFAULT_MAX_FRAME_BYTES = 256 * 1024 * 1024
_MAGIC = b"FCF1"
_MAX_HEADER_BYTES = 1024 * 1024
_MAX_BLOBS = 1_000_000


@dataclass(slots=True)
class Frame:
    kind: str
    job_id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    blobs: list[bytes] = field(default_factory=list)
    version: int = WIRE_VERSION


def encode(frame: Frame) -> bytes:
    header = json.dumps(
        {
            "kind": frame.kind,
            "version": frame.version,
            "job_id": frame.job_id,
            "meta": frame.meta,
            "blob_lengths": [len(b) for b in frame.blobs],
        },
        separators=(",", ":"),
    ).encode()
    return b"".join([_MAGIC, struct.pack(">I", len(header)), header, *frame.blobs])


def decode(data: bytes, *, max_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> Frame:
    if len(data) > max_bytes:
        raise WireError(f"frame of {len(data)} bytes exceeds the limit of {max_bytes}")
    if len(data) < 8 or data[:4] != _MAGIC:
        raise WireError("not a fincredit frame (bad magic)")
    (hlen,) = struct.unpack(">I", data[4:8])
    if hlen > _MAX_HEADER_BYTES or 8 + hlen > len(data):
        raise WireError("frame header length is out of range")
    try:
        header = json.loads(data[8 : 8 + hlen])
        kind, version, job_id = header["kind"], header["version"], header["job_id"]
        meta, lengths = header["meta"], header["blob_lengths"]
    except (ValueError, KeyError, TypeError) as exc:
        raise WireError(f"frame header is not valid: {exc}") from None
    if version != WIRE_VERSION:
        raise WireError(f"frame version {version} is not supported (this side speaks {WIRE_VERSION})")
    if not isinstance(kind, str) or not isinstance(meta, dict) or not isinstance(lengths, list):
        raise WireError("frame header has fields of the wrong type")
    if len(lengths) > _MAX_BLOBS or any(not isinstance(n, int) or n < 0 for n in lengths):
        raise WireError("frame blob table is not valid")
    if 8 + hlen + sum(lengths) != len(data):
        raise WireError("frame blobs do not add up to the frame length")
    blobs, pos = [], 8 + hlen
    view = memoryview(data)
    for n in lengths:
        blobs.append(bytes(view[pos : pos + n]))
        pos += n
    return Frame(kind=kind, job_id=str(job_id), meta=meta, blobs=blobs, version=version)


class Link(Protocol):
    """The bank side's view of the platform: send one frame, get one frame back."""

    def call(self, frame: Frame) -> Frame: ...


class LocalLink:
    """In-process link that still serialises every frame, so tests exercise the real wire bytes.

    ``transcript`` (when enabled) keeps every encoded request and response for leak tests.
    """

    def __init__(
        self,
        handler: Callable[[Frame], Frame],
        *,
        max_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        record: bool = False,
    ) -> None:
        self._handler = handler
        self._max = max_bytes
        self.transcript: list[tuple[str, bytes]] | None = [] if record else None
        self.bytes_sent = 0
        self.bytes_received = 0

    def call(self, frame: Frame) -> Frame:
        request = encode(frame)
        self.bytes_sent += len(request)
        if self.transcript is not None:
            self.transcript.append(("bank->platform", request))
        response = encode(self._handler(decode(request, max_bytes=self._max)))
        self.bytes_received += len(response)
        if self.transcript is not None:
            self.transcript.append(("platform->bank", response))
        return decode(response, max_bytes=self._max)
