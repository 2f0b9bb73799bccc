"""The PSI frames, one declared type each (see ``_psi_protocol`` for ECDH-PSI and ``_psi_kkrt_platform``
for KKRT16).

``from_frame`` checks every field's type and the blob count, and refuses a malformed frame naming its
kind and field (:class:`FederationError`); the checks that need the job's state (offsets inside the
declared sets, bucket indices, OPRF budgets) stay with the party that holds it. Both parties take
frames in through :func:`receive`, which reports a malformed frame as the other party's protocol error
(``PartyError`` with code ``"protocol"``), the code a refusal of these frames has always had.
Match positions travel as big-endian ``uint32``: the alignment id hashes them in that form.

===============  ================  =====================================================================
kind             direction        fields (blobs last)
===============  ================  =====================================================================
``psi.start``    bank -> platform  protocol, bank set size, scopes; KKRT: bucket count, bank nonce
``psi.start``    platform -> bank  protocol, platform set size, max chunk; KKRT: bucket sizes, nonce
``psi.reblind``  both ways         offset; ``a·H(b)`` of a chunk / ``p·a·H(b)`` of the same chunk
``psi.points``   bank -> platform  offset, count
``psi.points``   platform -> bank  offset; ``p·H(x)`` of the chunk
``psi.finish``   bank -> platform  ECDH: match count; platform positions, doubly blinded values
``psi.finish``   bank -> platform  KKRT: match count (the buckets' matches are already sent)
``psi.finish``   platform -> bank  intersection size, alignment id
``psi.abort``    both ways         (nothing)
``psi.base``     both ways         bucket; the bank's base-OT point / the platform's answer
``psi.oprf``     bank -> platform  bucket, cuckoo bins, tweak; the correction matrix ``U``
``psi.oprf``     platform -> bank  bucket; the OPRF values of the bucket's subjects
``psi.match``    bank -> platform  bucket, match count; the bucket's matched positions in join order
``psi.match``    platform -> bank  bucket, match count
===============  ================  =====================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, TypeVar

import numpy as np

from fincredit.federation._messages import Message, receive
from fincredit.federation._messages import blobs as _blobs
from fincredit.federation._messages import field as _field
from fincredit.federation._messages import ints as _ints
from fincredit.federation._runtime import Channel
from fincredit.federation.errors import FederationError
from fincredit.federation.wire import Frame

__all__ = [
    "Abort",
    "Base",
    "Finish",
    "Finished",
    "KkrtFinish",
    "Match",
    "Matched",
    "Message",
    "Oprf",
    "OprfAsk",
    "Points",
    "PointsAsk",
    "Reblind",
    "Start",
    "Started",
    "call",
    "positions_blob",
    "receive",
]

M = TypeVar("M", bound=Message)


def call(channel: Channel, job_id: str, request: Message, reply: type[M]) -> M:
    """A bank step: ``request`` sent (every PSI step is safe to retry), the answer read as ``reply``."""
    return receive(channel.call(request.to_frame(job_id), idempotent=True, expect=reply.KIND), reply)


def positions_blob(positions: np.ndarray) -> bytes:
    return np.asarray(positions, dtype=">u4").tobytes()


def _positions(frame: Frame, blob: bytes) -> np.ndarray:
    if len(blob) % 4:
        raise FederationError(f"{frame.kind}: positions are not 4-byte integers")
    return np.frombuffer(blob, dtype=">u4").astype(np.int64)


def _optional(frame: Frame, name: str, kind: type) -> Any:
    return _field(frame, name, kind) if name in frame.meta else None


@dataclass(frozen=True, slots=True)
class Start:
    KIND: ClassVar[str] = "psi.start"
    protocol: str
    bank_size: int
    scopes: list[str] = field(default_factory=list)
    buckets: int | None = None  # KKRT only
    nonce: str | None = None  # KKRT only: 16 bytes in hex; resending it resumes the job

    def to_frame(self, job_id: str) -> Frame:
        meta: dict[str, Any] = {"protocol": self.protocol, "bank_size": self.bank_size, "scopes": self.scopes}
        if self.buckets is not None:
            meta["buckets"] = self.buckets
        if self.nonce is not None:
            meta["nonce"] = self.nonce
        return Frame(self.KIND, job_id, meta)

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        scopes = _optional(frame, "scopes", list) or []
        if any(not isinstance(s, str) for s in scopes):
            raise FederationError("psi.start: field 'scopes' must be a list of strings")
        return cls(
            _field(frame, "protocol", str),
            _field(frame, "bank_size", int),
            list(scopes),
            _optional(frame, "buckets", int),
            _optional(frame, "nonce", str),
        )


@dataclass(frozen=True, slots=True)
class Started:
    KIND: ClassVar[str] = "psi.start"
    protocol: str
    platform_size: int
    max_chunk: int
    bucket_sizes: list[int] | None = None  # KKRT only
    nonce: str | None = None  # KKRT only

    def to_frame(self, job_id: str) -> Frame:
        meta: dict[str, Any] = {"protocol": self.protocol, "platform_size": self.platform_size}
        if self.bucket_sizes is not None:
            meta["bucket_sizes"] = self.bucket_sizes
        if self.nonce is not None:
            meta["nonce"] = self.nonce
        meta["max_chunk"] = self.max_chunk
        return Frame(self.KIND, job_id, meta)

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        sizes = _ints(frame, "bucket_sizes") if "bucket_sizes" in frame.meta else None
        return cls(
            _field(frame, "protocol", str),
            _field(frame, "platform_size", int),
            _field(frame, "max_chunk", int),
            sizes,
            _optional(frame, "nonce", str),
        )


@dataclass(frozen=True, slots=True)
class Reblind:
    KIND: ClassVar[str] = "psi.reblind"
    offset: int
    points: bytes  # a·H(b) of the bank's chunk; in the reply p·a·H(b), in the same order

    def to_frame(self, job_id: str) -> Frame:
        return Frame(self.KIND, job_id, {"offset": self.offset}, [self.points])

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        return cls(_field(frame, "offset", int), _blobs(frame, 1, 1)[0])


@dataclass(frozen=True, slots=True)
class PointsAsk:
    KIND: ClassVar[str] = "psi.points"
    offset: int
    count: int

    def to_frame(self, job_id: str) -> Frame:
        return Frame(self.KIND, job_id, {"offset": self.offset, "count": self.count})

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        return cls(_field(frame, "offset", int), _field(frame, "count", int))


@dataclass(frozen=True, slots=True)
class Points:
    KIND: ClassVar[str] = "psi.points"
    offset: int
    points: bytes  # p·H(x) of the platform's shuffled subjects from offset on

    def to_frame(self, job_id: str) -> Frame:
        return Frame(self.KIND, job_id, {"offset": self.offset}, [self.points])

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        return cls(_field(frame, "offset", int), _blobs(frame, 1, 1)[0])


@dataclass(frozen=True, slots=True)
class Finish:
    """ECDH's last step: per match, in the bank's join order, the platform's position and the value."""

    KIND: ClassVar[str] = "psi.finish"
    positions: np.ndarray
    values: bytes  # the doubly blinded points, concatenated

    def to_frame(self, job_id: str) -> Frame:
        meta = {"size": len(self.positions)}
        return Frame(self.KIND, job_id, meta, [positions_blob(self.positions), self.values])

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        blobs = _blobs(frame, 2, 2)
        positions = _positions(frame, blobs[0])
        if _field(frame, "size", int) != len(positions):
            raise FederationError("psi.finish: field 'size' does not count the positions")
        return cls(positions, blobs[1])


@dataclass(frozen=True, slots=True)
class KkrtFinish:
    """KKRT's last step: the platform already holds every bucket's matches; the count confirms them."""

    KIND: ClassVar[str] = "psi.finish"
    size: int

    def to_frame(self, job_id: str) -> Frame:
        return Frame(self.KIND, job_id, {"size": self.size})

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        _blobs(frame, 0, 0)
        return cls(_field(frame, "size", int))


@dataclass(frozen=True, slots=True)
class Finished:
    KIND: ClassVar[str] = "psi.finish"
    size: int
    alignment_id: str

    def to_frame(self, job_id: str) -> Frame:
        return Frame(self.KIND, job_id, {"size": self.size, "alignment_id": self.alignment_id})

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        return cls(_field(frame, "size", int), _field(frame, "alignment_id", str))


@dataclass(frozen=True, slots=True)
class Abort:
    KIND: ClassVar[str] = "psi.abort"

    def to_frame(self, job_id: str) -> Frame:
        return Frame(self.KIND, job_id)

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        return cls()


@dataclass(frozen=True, slots=True)
class Base:
    KIND: ClassVar[str] = "psi.base"
    bucket: int
    points: bytes  # the bank's 32-byte base-OT point; in the reply the platform's points

    def to_frame(self, job_id: str) -> Frame:
        return Frame(self.KIND, job_id, {"bucket": self.bucket}, [self.points])

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        return cls(_field(frame, "bucket", int), _blobs(frame, 1, 1)[0])


@dataclass(frozen=True, slots=True)
class OprfAsk:
    KIND: ClassVar[str] = "psi.oprf"
    bucket: int
    bins: int
    tweak: int
    correction: bytes  # U, one row of bins/8 bytes per OT-extension column

    def to_frame(self, job_id: str) -> Frame:
        meta = {"bucket": self.bucket, "bins": self.bins, "tweak": self.tweak}
        return Frame(self.KIND, job_id, meta, [self.correction])

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        correction = _blobs(frame, 1, 1)[0]
        bucket, bins = _field(frame, "bucket", int), _field(frame, "bins", int)
        return cls(bucket, bins, _field(frame, "tweak", int), correction)


@dataclass(frozen=True, slots=True)
class Oprf:
    KIND: ClassVar[str] = "psi.oprf"
    bucket: int
    values: bytes  # per cuckoo hash, per shuffled subject of the bucket: its OPRF value

    def to_frame(self, job_id: str) -> Frame:
        return Frame(self.KIND, job_id, {"bucket": self.bucket}, [self.values])

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        return cls(_field(frame, "bucket", int), _blobs(frame, 1, 1)[0])


@dataclass(frozen=True, slots=True)
class Match:
    KIND: ClassVar[str] = "psi.match"
    bucket: int
    positions: np.ndarray  # the bucket's shuffled positions the bank matched, in its join order

    def to_frame(self, job_id: str) -> Frame:
        meta = {"bucket": self.bucket, "size": len(self.positions)}
        return Frame(self.KIND, job_id, meta, [positions_blob(self.positions)])

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        positions = _positions(frame, _blobs(frame, 1, 1)[0])
        if _field(frame, "size", int) != len(positions):
            raise FederationError("psi.match: field 'size' does not count the positions")
        return cls(_field(frame, "bucket", int), positions)


@dataclass(frozen=True, slots=True)
class Matched:
    KIND: ClassVar[str] = "psi.match"
    bucket: int
    size: int

    def to_frame(self, job_id: str) -> Frame:
        return Frame(self.KIND, job_id, {"bucket": self.bucket, "size": self.size})

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        return cls(_field(frame, "bucket", int), _field(frame, "size", int))
