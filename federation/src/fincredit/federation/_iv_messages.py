"""The encrypted-IV frames, one declared type each (see ``_iv`` for the exchange and what each side learns).

``from_frame`` checks every field's type and the blob count; the checks that need the job (the aligned
row count, the bin limit, whether the ciphertexts parse under the context) stay with the platform.

===============  ================  ====================================================================
kind             direction         fields (blobs last)
===============  ================  ====================================================================
``iv.request``   bank -> platform  aligned rows, bins; public CKKS context, Enc(labels) per 4,096 rows
``iv.result``    platform -> bank  per platform feature: name, bin sizes; Enc(bad count) of every bin
===============  ================  ====================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from fincredit.federation._messages import Message, receive
from fincredit.federation._messages import blobs as _blobs
from fincredit.federation._messages import field as _field
from fincredit.federation.errors import FederationError
from fincredit.federation.wire import Frame

__all__ = ["IvBins", "IvRequest", "IvResult", "Message", "receive"]

DEFAULT_BINS = 10


@dataclass(frozen=True, slots=True)
class IvBins:
    """One platform feature's shuffled bins: sizes in the clear, encrypted bad counts."""

    feature: str
    sizes: list[int]
    bads: list[bytes]


@dataclass(frozen=True, slots=True)
class IvRequest:
    KIND: ClassVar[str] = "iv.request"
    n_rows: int
    bins: int
    public_context: bytes
    labels: list[bytes]  # Enc(0/1 labels in join order), 4,096 rows per ciphertext

    def to_frame(self, job_id: str) -> Frame:
        meta = {"n_rows": self.n_rows, "bins": self.bins}
        return Frame(self.KIND, job_id, meta, [self.public_context, *self.labels])

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        blobs = _blobs(frame, 2)
        bins = _field(frame, "bins", int) if "bins" in frame.meta else DEFAULT_BINS
        return cls(_field(frame, "n_rows", int), bins, blobs[0], blobs[1:])


@dataclass(frozen=True, slots=True)
class IvResult:
    KIND: ClassVar[str] = "iv.result"
    features: list[IvBins]

    def to_frame(self, job_id: str) -> Frame:
        meta = {"features": [{"name": f.feature, "sizes": f.sizes} for f in self.features]}
        return Frame(self.KIND, job_id, meta, [b for f in self.features for b in f.bads])

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        features, at = [], 0
        for entry in _field(frame, "features", list):
            name = entry.get("name") if isinstance(entry, dict) else None
            sizes = entry.get("sizes") if isinstance(entry, dict) else None
            if (
                not isinstance(name, str)
                or not isinstance(sizes, list)
                or any(isinstance(s, bool) or not isinstance(s, int) for s in sizes)
            ):
                raise FederationError("iv.result: field 'features' must list a name and bin sizes each")
            features.append(IvBins(name, list(sizes), frame.blobs[at : at + len(sizes)]))
            at += len(sizes)
        if at != len(frame.blobs):
            raise FederationError(f"iv.result: {len(frame.blobs)} blobs, expected one per bin ({at})")
        return cls(features)
