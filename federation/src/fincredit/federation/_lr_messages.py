"""The vertical-LR frames, one declared type each (see ``_vertical_lr`` for the protocol).

==================  ================  ==================================================================
kind                direction         fields (blobs last)
==================  ================  ==================================================================
``lr.open``         bank -> platform  params, platform features, bank feature count; context, train rows
``lr.ready``        platform -> bank  platform feature count, training rows
``lr.bank_column``  bank -> platform  column pair; Enc(design columns) per chunk
``lr.ack``          platform -> bank  the pair stored, or the coefficient ciphertexts uploaded so far
``lr.range``        both ways         iteration (and the previous gradient's totals) / the range
``lr.upload``       bank -> platform  iteration; part of the step's coefficient ciphertexts
``lr.step``         bank -> platform  iteration; the rest of the coefficient ciphertexts
``lr.shares``       platform -> bank  iteration; residual shares, column corrections, intercept term
``lr.gradient``     both ways         iteration; Enc(residual share) / the masked platform gradient
``lr.finish``       bank -> platform  the last gradient's totals
``lr.done``         platform -> bank  iterations run
``lr.score``        bank -> platform  held-out rows
``lr.partial``      platform -> bank  the platform's partial logits of those rows
==================  ================  ==================================================================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar, Self

import numpy as np

from fincredit.federation._lr_params import LogisticParams
from fincredit.federation._messages import Message, floats, floats_blob, read, rows_blob
from fincredit.federation._messages import blobs as _blobs
from fincredit.federation._messages import field as _field
from fincredit.federation._messages import rows as _rows
from fincredit.federation.errors import FederationError
from fincredit.federation.wire import Frame

__all__ = [
    "Ack",
    "BankColumn",
    "Done",
    "Finish",
    "Gradient",
    "GradientAsk",
    "Message",
    "Open",
    "Partial",
    "Range",
    "RangeAsk",
    "Ready",
    "Score",
    "Shares",
    "Step",
    "Upload",
    "read",
]


def _totals(frame: Frame) -> np.ndarray | None:
    """The previous gradient's totals some frames carry as their one blob (none before the first)."""
    blobs = _blobs(frame, 0, 1)
    return floats(frame, blobs[0]) if blobs else None


@dataclass(frozen=True, slots=True)
class Open:
    KIND: ClassVar[str] = "lr.open"
    params: LogisticParams
    platform_features: list[str]
    bank_features: int
    public_context: bytes
    train_rows: np.ndarray

    def to_frame(self, job_id: str) -> Frame:
        meta = {
            "params": asdict(self.params),
            "platform_features": self.platform_features,
            "bank_features": self.bank_features,
        }
        return Frame(self.KIND, job_id, meta, [self.public_context, rows_blob(self.train_rows)])

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        blobs = _blobs(frame, 2, 2)
        names = _field(frame, "platform_features", list)
        if any(not isinstance(n, str) for n in names):
            raise FederationError("lr.open: platform features must be names")
        try:
            params = LogisticParams(**_field(frame, "params", dict))
        except (TypeError, ValueError) as exc:
            raise FederationError(f"lr.open: parameters not valid: {exc}") from None
        bank_features = _field(frame, "bank_features", int)
        return cls(params, list(names), bank_features, blobs[0], _rows(frame, blobs[1]))


@dataclass(frozen=True, slots=True)
class Ready:
    KIND: ClassVar[str] = "lr.ready"
    features: int
    rows: int

    def to_frame(self, job_id: str) -> Frame:
        return Frame(self.KIND, job_id, {"features": self.features, "rows": self.rows})

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        return cls(_field(frame, "features", int), _field(frame, "rows", int))


@dataclass(frozen=True, slots=True)
class BankColumn:
    KIND: ClassVar[str] = "lr.bank_column"
    pair: int
    chunks: list[bytes]

    def to_frame(self, job_id: str) -> Frame:
        return Frame(self.KIND, job_id, {"pair": self.pair}, list(self.chunks))

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        return cls(_field(frame, "pair", int), frame.blobs)


@dataclass(frozen=True, slots=True)
class Ack:
    KIND: ClassVar[str] = "lr.ack"
    pair: int | None = None  # after lr.bank_column
    uploaded: int | None = None  # after lr.upload

    def to_frame(self, job_id: str) -> Frame:
        meta = {k: v for k, v in (("pair", self.pair), ("uploaded", self.uploaded)) if v is not None}
        return Frame(self.KIND, job_id, meta)

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        pair = _field(frame, "pair", int) if "pair" in frame.meta else None
        uploaded = _field(frame, "uploaded", int) if "uploaded" in frame.meta else None
        return cls(pair, uploaded)


@dataclass(frozen=True, slots=True)
class RangeAsk:
    KIND: ClassVar[str] = "lr.range"
    iteration: int
    totals: np.ndarray | None = None  # the previous gradient's totals, unmasked by the bank

    def to_frame(self, job_id: str) -> Frame:
        blobs = [] if self.totals is None else [floats_blob(self.totals)]
        return Frame(self.KIND, job_id, {"iteration": self.iteration}, blobs)

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        return cls(_field(frame, "iteration", int), _totals(frame))


@dataclass(frozen=True, slots=True)
class Range:
    KIND: ClassVar[str] = "lr.range"
    iteration: int
    range: float

    def to_frame(self, job_id: str) -> Frame:
        return Frame(self.KIND, job_id, {"iteration": self.iteration, "range": self.range})

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        return cls(_field(frame, "iteration", int), float(_field(frame, "range", (int, float))))


@dataclass(frozen=True, slots=True)
class _Ciphertexts:
    """An iteration's ciphertexts, which is all of lr.upload, lr.step and both lr.gradient frames."""

    KIND: ClassVar[str]
    iteration: int
    cts: list[bytes]

    def to_frame(self, job_id: str) -> Frame:
        return Frame(self.KIND, job_id, {"iteration": self.iteration}, list(self.cts))

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        return cls(_field(frame, "iteration", int), frame.blobs)


@dataclass(frozen=True, slots=True)
class Upload(_Ciphertexts):
    KIND: ClassVar[str] = "lr.upload"  # part of the step's coefficient ciphertexts


@dataclass(frozen=True, slots=True)
class Step(_Ciphertexts):
    KIND: ClassVar[str] = "lr.step"  # the coefficient ciphertexts not sent ahead in lr.upload


@dataclass(frozen=True, slots=True)
class GradientAsk(_Ciphertexts):
    KIND: ClassVar[str] = "lr.gradient"  # Enc(the bank's share of the residual), per chunk


@dataclass(frozen=True, slots=True)
class Gradient(_Ciphertexts):
    KIND: ClassVar[str] = "lr.gradient"  # the masked platform gradient, two features per complex slot


@dataclass(frozen=True, slots=True)
class Shares:
    KIND: ClassVar[str] = "lr.shares"
    iteration: int
    shares: list[bytes]
    corrections: list[bytes]
    intercept: bytes

    def to_frame(self, job_id: str) -> Frame:
        meta = {"iteration": self.iteration, "shares": len(self.shares), "corrections": len(self.corrections)}
        return Frame(self.KIND, job_id, meta, [*self.shares, *self.corrections, self.intercept])

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        n_shares, n_corr = _field(frame, "shares", int), _field(frame, "corrections", int)
        blobs = _blobs(frame, n_shares + n_corr + 1, n_shares + n_corr + 1)
        return cls(
            _field(frame, "iteration", int), blobs[:n_shares], blobs[n_shares : n_shares + n_corr], blobs[-1]
        )


@dataclass(frozen=True, slots=True)
class Finish:
    KIND: ClassVar[str] = "lr.finish"
    totals: np.ndarray | None = None

    def to_frame(self, job_id: str) -> Frame:
        return Frame(self.KIND, job_id, {}, [] if self.totals is None else [floats_blob(self.totals)])

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        return cls(_totals(frame))


@dataclass(frozen=True, slots=True)
class Done:
    KIND: ClassVar[str] = "lr.done"
    iterations: int

    def to_frame(self, job_id: str) -> Frame:
        return Frame(self.KIND, job_id, {"iterations": self.iterations})

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        return cls(_field(frame, "iterations", int))


@dataclass(frozen=True, slots=True)
class Score:
    KIND: ClassVar[str] = "lr.score"
    rows: np.ndarray

    def to_frame(self, job_id: str) -> Frame:
        return Frame(self.KIND, job_id, {}, [rows_blob(self.rows)])

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        return cls(_rows(frame, _blobs(frame, 1, 1)[0]))


@dataclass(frozen=True, slots=True)
class Partial:
    KIND: ClassVar[str] = "lr.partial"
    logits: np.ndarray

    def to_frame(self, job_id: str) -> Frame:
        return Frame(self.KIND, job_id, {"rows": int(self.logits.size)}, [floats_blob(self.logits)])

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        logits = floats(frame, _blobs(frame, 1, 1)[0])
        if logits.size != _field(frame, "rows", int):
            raise FederationError("lr.partial: one logit per row is expected")
        return cls(logits)
