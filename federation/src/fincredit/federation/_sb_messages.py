"""The SecureBoost frames, one declared type each: kind, typed fields, ``to_frame`` and ``from_frame``.

``from_frame`` checks every field's type and the blob count before a party reads anything, so a
malformed frame is refused with its kind and field named (:class:`FederationError`); the checks that
need the job's state (row ranges, feature indices, bin counts) stay with the party that holds it.

=================  ===============  =====================================================================
kind               direction        fields (blobs last)
=================  ===============  =====================================================================
``sb.open``        bank -> platform  params, platform features; public context, train rows, valid rows
``sb.ready``       platform -> bank  per platform feature: bins, has-missing, most frequent bin,
                                     categorical; packing
``sb.hist``        bank -> platform  features, layout (full, replicas); leaf rows, Enc(g) then Enc(h)
``sb.histogram``   platform -> bank  features, layout, bins of each returned pair; the blinded sums
``sb.split``       bank -> platform  feature, bin, default_left, categorical bins; leaf rows, validation rows
``sb.partition``   platform -> bank  split id; left bits of the leaf rows, of the validation rows
``sb.finish``      bank -> platform  split count and gain of each platform feature used
``sb.done``        platform -> bank  number of platform splits
``sb.route``       bank -> platform  held-out rows
``sb.directions``  platform -> bank  per platform split: left bits of the held-out rows
=================  ===============  =====================================================================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import ClassVar, Self

import numpy as np

from fincredit.federation._gbdt import SecureBoostParams
from fincredit.federation._messages import Message, bits, read, rows_blob, unbits
from fincredit.federation._messages import blobs as _blobs
from fincredit.federation._messages import field as _field
from fincredit.federation._messages import ints as _ints
from fincredit.federation._messages import rows as _rows
from fincredit.federation._sb_histogram import Group, Packing
from fincredit.federation.errors import FederationError
from fincredit.federation.wire import Frame

__all__ = [
    "Directions",
    "Done",
    "Finish",
    "Hist",
    "Histogram",
    "Message",
    "Open",
    "Partition",
    "Ready",
    "Route",
    "Split",
    "bits",
    "read",
    "rows_blob",
    "unbits",
]


@dataclass(frozen=True, slots=True)
class Open:
    KIND: ClassVar[str] = "sb.open"
    params: SecureBoostParams
    platform_features: list[str]
    public_context: bytes
    train_rows: np.ndarray
    valid_rows: np.ndarray

    def to_frame(self, job_id: str) -> Frame:
        meta = {"params": asdict(self.params), "platform_features": self.platform_features}
        blobs = [self.public_context, rows_blob(self.train_rows), rows_blob(self.valid_rows)]
        return Frame(self.KIND, job_id, meta, blobs)

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        blobs = _blobs(frame, 2, 3)
        names = _field(frame, "platform_features", list)
        if any(not isinstance(n, str) for n in names):
            raise FederationError("sb.open: platform features must be names")
        try:
            params = SecureBoostParams(**_field(frame, "params", dict))
        except (TypeError, ValueError) as exc:
            raise FederationError(f"sb.open: parameters not valid: {exc}") from None
        valid = _rows(frame, blobs[2]) if len(blobs) == 3 else np.zeros(0, np.int64)
        return cls(params, list(names), blobs[0], _rows(frame, blobs[1]), valid)


@dataclass(frozen=True, slots=True)
class Ready:
    KIND: ClassVar[str] = "sb.ready"
    bins: list[int]
    missing: list[bool]
    most_freq_bin: list[int]
    packing: Packing
    categorical: list[bool]

    def to_frame(self, job_id: str) -> Frame:
        meta = {
            "bins": self.bins,
            "missing": self.missing,
            "most_freq_bin": self.most_freq_bin,
            "packing": [self.packing.digits, self.packing.bits],
            "categorical": self.categorical,
        }
        return Frame(self.KIND, job_id, meta)

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        bins, freq = _ints(frame, "bins"), _ints(frame, "most_freq_bin")
        missing = _field(frame, "missing", list)
        categorical = _field(frame, "categorical", list)
        packing = _ints(frame, "packing")
        if len({len(bins), len(freq), len(missing), len(categorical)}) != 1 or len(packing) != 2:
            raise FederationError("sb.ready: per-feature lists of different lengths, or no packing")
        if any(not isinstance(c, bool) for c in categorical):
            raise FederationError("sb.ready: field 'categorical' holds one true or false per feature")
        flags = [bool(m) for m in missing]
        return cls(bins, flags, freq, Packing(packing[0], packing[1]), list(categorical))


@dataclass(frozen=True, slots=True)
class Hist:
    KIND: ClassVar[str] = "sb.hist"
    features: list[int]
    full: bool
    replicas: int
    rows: np.ndarray
    gh: list[bytes]  # Enc(g) chunks, then Enc(h) chunks

    def to_frame(self, job_id: str) -> Frame:
        meta = {"features": self.features, "full": self.full, "replicas": self.replicas}
        return Frame(self.KIND, job_id, meta, [rows_blob(self.rows), *self.gh])

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        blobs = _blobs(frame, 1)
        full = _field(frame, "full", bool)
        return cls(
            _ints(frame, "features"), full, _field(frame, "replicas", int), _rows(frame, blobs[0]), blobs[1:]
        )


@dataclass(frozen=True, slots=True)
class Histogram:
    KIND: ClassVar[str] = "sb.histogram"
    features: list[int]
    full: bool
    replicas: int
    # The bins of each returned pair of ciphertexts, as keys ``offset + bin``: a scanned feature's
    # offset is the bin count of the features scanned before it; -1 names a bin whose sum is zero.
    groups: list[Group]
    sums: list[bytes]  # per group: the blinded sums of g, then of h

    def to_frame(self, job_id: str) -> Frame:
        meta = {"features": self.features, "full": self.full, "replicas": self.replicas}
        meta["groups"] = self.groups
        return Frame(self.KIND, job_id, meta, list(self.sums))

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        features = _ints(frame, "features")
        raw = _field(frame, "groups", list)
        try:
            groups: list[Group] = [([int(b) for b in real], [int(b) for b in imag]) for real, imag in raw]
        except (TypeError, ValueError):
            raise FederationError("sb.histogram: 'groups' must list (real, imaginary) key lists") from None
        if 2 * len(groups) != len(frame.blobs):
            raise FederationError("sb.histogram: the groups and the ciphertexts do not match")
        return cls(features, _field(frame, "full", bool), _field(frame, "replicas", int), groups, frame.blobs)


@dataclass(frozen=True, slots=True)
class Split:
    """A numerical split (left: bins up to ``bin``) or, with ``cat_bins``, a categorical one (left: those
    bins; ``bin`` is then -1)."""

    KIND: ClassVar[str] = "sb.split"
    feature: int
    bin: int
    default_left: bool
    rows: np.ndarray
    valid: np.ndarray
    cat_bins: list[int] = field(default_factory=list)

    def to_frame(self, job_id: str) -> Frame:
        meta = {
            "feature": self.feature,
            "bin": self.bin,
            "default_left": self.default_left,
            "cat_bins": self.cat_bins,
        }
        return Frame(self.KIND, job_id, meta, [rows_blob(self.rows), rows_blob(self.valid)])

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        blobs = _blobs(frame, 1, 2)
        valid = _rows(frame, blobs[1]) if len(blobs) == 2 else np.zeros(0, np.int64)
        feature, bin_ = _field(frame, "feature", int), _field(frame, "bin", int)
        default_left, cat_bins = _field(frame, "default_left", bool), _ints(frame, "cat_bins")
        return cls(feature, bin_, default_left, _rows(frame, blobs[0]), valid, cat_bins)


@dataclass(frozen=True, slots=True)
class Partition:
    KIND: ClassVar[str] = "sb.partition"
    split_id: int
    left: bytes  # bits over the leaf's rows
    valid_left: bytes  # bits over the validation rows

    def to_frame(self, job_id: str) -> Frame:
        return Frame(self.KIND, job_id, {"split_id": self.split_id}, [self.left, self.valid_left])

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        blobs = _blobs(frame, 2, 2)
        return cls(_field(frame, "split_id", int), blobs[0], blobs[1])


@dataclass(frozen=True, slots=True)
class Finish:
    KIND: ClassVar[str] = "sb.finish"
    importance: dict[int, tuple[int, float]] = field(default_factory=dict)  # feature -> (splits, gain)

    def to_frame(self, job_id: str) -> Frame:
        meta = {"importance": {str(j): [s, g] for j, (s, g) in self.importance.items()}}
        return Frame(self.KIND, job_id, meta)

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        try:
            importance = {
                int(j): (int(s), float(g)) for j, (s, g) in _field(frame, "importance", dict).items()
            }
        except (TypeError, ValueError):
            raise FederationError("sb.finish: importance must map a feature to (splits, gain)") from None
        return cls(importance)


@dataclass(frozen=True, slots=True)
class Done:
    KIND: ClassVar[str] = "sb.done"
    splits: int

    def to_frame(self, job_id: str) -> Frame:
        return Frame(self.KIND, job_id, {"splits": self.splits})

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        return cls(_field(frame, "splits", int))


@dataclass(frozen=True, slots=True)
class Route:
    KIND: ClassVar[str] = "sb.route"
    rows: np.ndarray

    def to_frame(self, job_id: str) -> Frame:
        return Frame(self.KIND, job_id, {}, [rows_blob(self.rows)])

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        return cls(_rows(frame, _blobs(frame, 1, 1)[0]))


@dataclass(frozen=True, slots=True)
class Directions:
    KIND: ClassVar[str] = "sb.directions"
    left: list[bytes]  # per platform split, bits over the routed rows

    def to_frame(self, job_id: str) -> Frame:
        return Frame(self.KIND, job_id, {"splits": len(self.left)}, list(self.left))

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        if _field(frame, "splits", int) != len(frame.blobs):
            raise FederationError("sb.directions: one bit list per split is expected")
        return cls(frame.blobs)
