"""The encrypted-scoring frames, one declared type each (see ``_scoring_platform`` for the layout of the
ciphertexts and the protocols).

``from_frame`` checks every field's type and the blob count; the checks that need the model, the limits
or the request's context (the protocol fits the model, ciphertext counts, the row limit, the identifiers'
count, the tree groups' split ids) stay with the platform's handler, which reports a malformed request
as :class:`~fincredit.federation.errors.ScoringRequestError` (HTTP 400) like its other refusals.
Identifiers travel in a blob, never in the header (the header is what logs print).

===================  ================  ===============================================================
kind                 direction         fields (blobs last)
===================  ================  ===============================================================
``scoring.request``  bank -> platform  model, protocol, rows, ciphertexts per chunk, tree groups (tree
                                       protocols); public context, identifiers, ciphertexts
``scoring.result``   platform -> bank  model, protocol, rows, scored count, refused (row, reason),
                                       empty chunks; one ciphertext per chunk (or per request one)
===================  ================  ===============================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from fincredit.federation._messages import Message, read, receive
from fincredit.federation._messages import blobs as _blobs
from fincredit.federation._messages import field as _field
from fincredit.federation._messages import ints as _ints
from fincredit.federation.errors import FederationError
from fincredit.federation.wire import Frame

__all__ = ["Message", "ScoringRequest", "ScoringResult", "read", "receive"]


@dataclass(frozen=True, slots=True)
class ScoringRequest:
    KIND: ClassVar[str] = "scoring.request"
    model_id: str
    protocol: str
    n_rows: int
    columns: int  # ciphertexts per chunk
    public_context: bytes
    ids: list[str]
    ciphertexts: list[bytes]
    # tree protocols: per group, its signature [[split id, 0|1], ...]; checked against the model's splits
    groups: list[Any] | None = None

    def to_frame(self, job_id: str) -> Frame:
        meta: dict[str, Any] = {
            "model_id": self.model_id,
            "protocol": self.protocol,
            "n_rows": self.n_rows,
            "columns": self.columns,
        }
        if self.groups is not None:
            meta["groups"] = self.groups
        blobs = [self.public_context, "\n".join(self.ids).encode("utf-8"), *self.ciphertexts]
        return Frame(self.KIND, job_id, meta, blobs)

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        blobs = _blobs(frame, 2)
        try:
            text = blobs[1].decode("utf-8")
        except UnicodeDecodeError:
            raise FederationError("scoring.request: the identifiers blob is not UTF-8") from None
        return cls(
            _field(frame, "model_id", str),
            _field(frame, "protocol", str),
            _field(frame, "n_rows", int),
            _field(frame, "columns", int),
            blobs[0],
            text.split("\n") if text else [],
            blobs[2:],
            _field(frame, "groups", list) if "groups" in frame.meta else None,
        )


@dataclass(frozen=True, slots=True)
class ScoringResult:
    KIND: ClassVar[str] = "scoring.result"
    model_id: str
    protocol: str
    n_rows: int
    scored: int
    ciphertexts: list[bytes]  # per chunk (b"" for one listed in empty_chunks), or per request ciphertext
    refused: list[tuple[int, str]] = field(default_factory=list)  # (row, reason code)
    empty_chunks: list[int] = field(default_factory=list)

    def to_frame(self, job_id: str) -> Frame:
        meta = {
            "model_id": self.model_id,
            "protocol": self.protocol,
            "n_rows": self.n_rows,
            "scored": self.scored,
            "refused": [[row, reason] for row, reason in self.refused],
            "empty_chunks": self.empty_chunks,
        }
        return Frame(self.KIND, job_id, meta, list(self.ciphertexts))

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        n_rows = _field(frame, "n_rows", int)
        refused: list[tuple[int, str]] = []
        for pair in _field(frame, "refused", list):
            if (
                not isinstance(pair, list)
                or len(pair) != 2
                or isinstance(pair[0], bool)
                or not isinstance(pair[0], int)
                or not 0 <= pair[0] < n_rows
                or not isinstance(pair[1], str)
            ):
                raise FederationError("scoring.result: field 'refused' must list [row, reason] of its rows")
            refused.append((pair[0], pair[1]))
        return cls(
            _field(frame, "model_id", str),
            _field(frame, "protocol", str),
            n_rows,
            _field(frame, "scored", int),
            frame.blobs,
            refused,
            _ints(frame, "empty_chunks"),
        )
