"""What every declared frame type shares: the :class:`Message` interface, :func:`read`, and the checks
``from_frame`` makes of a frame's fields and blobs (each refusal names the frame's kind and the field).
Row positions travel as little-endian ``uint32``, left/right partitions as packed bits, float vectors
as little-endian ``float64``."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, Self, TypeVar

import numpy as np

from fincredit.federation.errors import FederationError, PartyError
from fincredit.federation.wire import Frame

__all__ = [
    "Message",
    "bits",
    "blobs",
    "field",
    "floats",
    "floats_blob",
    "ints",
    "read",
    "receive",
    "rows",
    "rows_blob",
    "unbits",
]


class Message(Protocol):
    KIND: ClassVar[str]

    def to_frame(self, job_id: str) -> Frame: ...

    @classmethod
    def from_frame(cls, frame: Frame) -> Self: ...


M = TypeVar("M", bound=Message)


def read(frame: Frame, kind: type[M]) -> M:
    """``frame`` as ``kind``, refused if it is another kind."""
    if frame.kind != kind.KIND:
        raise FederationError(f"expected {kind.KIND!r}, got {frame.kind!r}")
    return kind.from_frame(frame)


def receive(frame: Frame, kind: type[M]) -> M:
    """:func:`read` for the protocols whose refusals have always been ``PartyError`` with code
    ``"protocol"`` (PSI, IV): a malformed frame is the sending party's protocol error."""
    try:
        return read(frame, kind)
    except PartyError:
        raise
    except FederationError as exc:
        raise PartyError(str(exc), code="protocol") from None


def rows_blob(rows: np.ndarray) -> bytes:
    return np.asarray(rows, dtype="<u4").tobytes()


def rows(frame: Frame, blob: bytes) -> np.ndarray:
    if len(blob) % 4:
        raise FederationError(f"{frame.kind}: a row list is not a whole number of uint32")
    return np.frombuffer(blob, dtype="<u4").astype(np.int64)


def bits(mask: np.ndarray) -> bytes:
    return np.packbits(np.asarray(mask, dtype=bool)).tobytes()


def unbits(blob: bytes, n: int) -> np.ndarray:
    if len(blob) != -(-n // 8):
        raise FederationError("a partition does not have one bit per row")
    return np.unpackbits(np.frombuffer(blob, dtype=np.uint8))[:n].astype(bool)


def field(frame: Frame, name: str, kind: type | tuple[type, ...]) -> Any:
    value = frame.meta.get(name)
    if isinstance(value, bool) and kind in (int, float):  # JSON true is not a count
        value = None
    if not isinstance(value, kind):
        raise FederationError(f"{frame.kind}: field {name!r} is missing or not of type {kind}")
    return value


def ints(frame: Frame, name: str) -> list[int]:
    values = field(frame, name, list)
    if any(isinstance(v, bool) or not isinstance(v, int) for v in values):
        raise FederationError(f"{frame.kind}: field {name!r} must be a list of integers")
    return list(values)


def blobs(frame: Frame, low: int, high: int | None = None) -> list[bytes]:
    n = len(frame.blobs)
    if n < low or (high is not None and n > high):
        expected = f"at least {low}" if high is None else str(low) if high == low else f"{low} to {high}"
        raise FederationError(f"{frame.kind}: {n} blobs, expected {expected}")
    return frame.blobs


def floats_blob(values: np.ndarray) -> bytes:
    return np.asarray(values, dtype="<f8").tobytes()


def floats(frame: Frame, blob: bytes) -> np.ndarray:
    if len(blob) % 8:
        raise FederationError(f"{frame.kind}: a float list is not a whole number of float64")
    return np.frombuffer(blob, dtype="<f8").astype(np.float64)
