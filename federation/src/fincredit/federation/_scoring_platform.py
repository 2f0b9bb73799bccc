"""The platform party of encrypted scoring: a pure ``handle(frame) -> frame`` the service mounts.

Request (``scoring.request``, from the bank; both frames are declared in ``_scoring_messages``)::

    meta  = {"model_id", "protocol": "lr-deposited" | "lr-masked" | "lr-partial" | "tree-masked" |
             "tree-groups",
             "n_rows", "columns": ciphertexts per chunk, "groups": [...] (tree-groups only)}
    blobs = [public CKKS context, applicant ids (UTF-8, newline-separated), ciphertexts...]

Ciphertexts are chunk-major: chunk c (rows c·N/2 .. ) column j is blob ``2 + c·columns + j``;
for the masked protocols (BFV) the n x k values are applicant-major, N-1 per ciphertext plus a dummy slot,
and the reply has one ciphertext per request ciphertext.
Identifiers travel in a blob, never in the frame header (the header is what logs print).

Response (``scoring.result``)::

    meta  = {"model_id", "protocol", "n_rows", "scored": count, "refused": [[row, reason], ...],
             "empty_chunks": [chunk, ...]}
    blobs = [one ciphertext per chunk]  (empty for a chunk whose result is exactly zero)

Per-row refusals come from the service's ``authorize(ids)`` (consent, quota per subject, ...) and
from ``platform_features`` (unknown subject); duplicated ids in one batch are refused after their
first occurrence. A refused row gets no platform contribution and is not counted in ``scored``.
Whole-request problems raise :class:`~fincredit.federation.errors.ScoringError` subclasses carrying
``code`` and ``status`` for a 4xx answer. Called as a runtime ``PartyHandler`` (``handler(frame,
bank_id)``, what :class:`~fincredit.federation.FrameRouter` does for the ``scoring.`` prefix) it answers
them with the runtime's ``error`` frame instead, with ``code``, ``status`` and ``error`` (the class name)
in its meta. A raised error or an error frame means no row was scored (nothing to meter or ledger).

The service supplies three callables; the first two receive the bank id the transport
authenticated, never one taken from the frame:

* ``models(bank_id, model_id)`` -> the platform's half (``PlatformLogisticPart``, ``LogisticDeposit``
  or ``PlatformTreePart``) or None;
* ``authorize(bank_id, ids)`` -> per id None or a reason code (consent, quota);
* ``platform_features(ids, feature_names)`` -> (matrix with NaN for missing values, known mask).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tenseal as ts

from fincredit.federation._runtime import error_frame as runtime_error_frame
from fincredit.federation._scoring_ckks import (
    BfvParams,
    ContextCache,
    ScoringLimits,
    check_count,
    chunk_bounds,
    load_bfv_ciphertext,
    load_ciphertext,
)
from fincredit.federation._scoring_lr import (
    LR_DEPOSITED,
    LR_MASKED,
    LR_PARTIAL,
    LogisticDeposit,
    lr_columns_expected,
    platform_lr_evaluate,
    platform_lr_masked_terms,
)
from fincredit.federation._scoring_masked import masked_ciphertext_count, platform_masked_evaluate
from fincredit.federation._scoring_messages import ScoringRequest, ScoringResult, read
from fincredit.federation._scoring_tree import (
    TREE_GROUPS,
    TREE_MASKED,
    parse_signatures,
    platform_group_masks,
    platform_tree_evaluate,
)
from fincredit.federation.errors import (
    FederationError,
    ScoringContextError,
    ScoringError,
    ScoringModelError,
    ScoringRequestError,
)
from fincredit.federation.joint_model import PlatformLogisticPart, PlatformTreePart
from fincredit.federation.wire import Frame

__all__ = [
    "REQUEST_KIND",
    "RESULT_KIND",
    "Authorize",
    "Evaluation",
    "Evaluator",
    "ModelLookup",
    "PlatformFeatures",
    "PlatformScoringModel",
    "ScoringHandler",
    "ScoringReport",
    "error_frame",
    "evaluate",
]

REQUEST_KIND = ScoringRequest.KIND
RESULT_KIND = ScoringResult.KIND

REASON_UNKNOWN_SUBJECT = "unknown_subject"
REASON_DUPLICATE = "duplicate_in_batch"

PlatformScoringModel = PlatformLogisticPart | LogisticDeposit | PlatformTreePart
ModelLookup = Callable[[str, str], PlatformScoringModel | None]
# (ids, feature names) -> (len(ids) x len(features) float matrix, NaN for missing; known-subject mask)
PlatformFeatures = Callable[[list[str], list[str]], tuple[np.ndarray, np.ndarray]]
# (bank id, ids) -> per id None (may be scored) or a short reason code ("no_consent", "revoked", ...)
Authorize = Callable[[str, list[str]], Sequence[str | None]]


@dataclass(frozen=True, slots=True)
class ScoringReport:
    """What the service needs after a successful request: who was scored (meter, ledger) and who not."""

    model_id: str
    protocol: str
    n_rows: int
    scored_ids: list[str]
    refused: list[tuple[int, str, str]] = field(default_factory=list)  # (row, id, reason)

    @property
    def scored(self) -> int:
        return len(self.scored_ids)


def error_frame(exc: ScoringError, job_id: str = "") -> Frame:
    frame = runtime_error_frame(job_id, exc.code, str(exc))
    frame.meta.update({"error": type(exc).__name__, "status": exc.status})
    return frame


def _allow_all(bank_id: str, ids: list[str]) -> list[str | None]:
    return [None] * len(ids)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The homomorphic part of one request, after every check and every database lookup: the bank's
    context and ciphertexts, the platform's half and its feature values. It holds nothing that decrypts,
    and :func:`evaluate` needs nothing else: it can run in another process (a Ray task)."""

    model: PlatformScoringModel
    protocol: str
    groups: Any
    blobs: list[bytes]  # the request's blobs: context, identifiers, ciphertexts
    expected: int  # ciphertexts per chunk
    n_rows: int
    x_platform: np.ndarray
    scored: np.ndarray
    limits: ScoringLimits


# Runs an Evaluation (in this process by default; the platform service may hand it to Ray).
Evaluator = Callable[[Evaluation], tuple[list[bytes], list[int]]]

_contexts_here: dict[ScoringLimits, ContextCache] = {}


def evaluate(job: Evaluation, contexts: ContextCache | None = None) -> tuple[list[bytes], list[int]]:
    """One result ciphertext per chunk (``b""`` and listed in the second value for a chunk whose result
    is exactly zero) or, for the masked protocols, one per request ciphertext. ``contexts``: the
    caller's cache of loaded contexts; by default one per process and limits."""
    if contexts is None:
        contexts = _contexts_here.setdefault(job.limits, ContextCache(job.limits))
    ctx = contexts.load(job.blobs[0])
    model, groups, expected, limits = job.model, job.groups, job.expected, job.limits
    slots = ctx.params.slots
    out: list[bytes] = []
    empty: list[int] = []
    bounds = chunk_bounds(job.n_rows, slots)
    if job.protocol in (TREE_MASKED, LR_MASKED):
        assert isinstance(ctx.params, BfvParams)
        t = ctx.params.plain_modulus
        if isinstance(model, PlatformTreePart):
            assert groups is not None
            multipliers, offsets = platform_group_masks(model, groups, job.x_platform, job.scored), None
        else:
            assert isinstance(model, LogisticDeposit)
            multipliers, offsets = platform_lr_masked_terms(model, job.x_platform, job.scored, t)

        def load(k: int, used: int) -> ts.BFVVector:
            return load_bfv_ciphertext(ctx, job.blobs[2 + k], slots_used=used, limits=limits)

        return platform_masked_evaluate(load, multipliers, offsets, t, slots), []
    for c, (lo, hi) in enumerate(bounds):
        cts = [
            load_ciphertext(ctx, job.blobs[2 + c * expected + j], slots_used=hi - lo, limits=limits)
            for j in range(expected)
        ]
        if groups is not None:
            assert isinstance(model, PlatformTreePart)
            masks = platform_group_masks(model, groups, job.x_platform[lo:hi], job.scored[lo:hi])
            result = platform_tree_evaluate(cts, masks)
        else:
            assert not isinstance(model, PlatformTreePart)
            result = platform_lr_evaluate(model, job.protocol, cts, job.x_platform[lo:hi], job.scored[lo:hi])
        if result is None:
            empty.append(c)
            out.append(b"")
        else:
            out.append(result.serialize())
    return out, empty


class ScoringHandler:
    """Platform side of encrypted scoring. Holds no key that can decrypt anything it handles."""

    def __init__(
        self,
        *,
        models: ModelLookup,
        platform_features: PlatformFeatures,
        authorize: Authorize | None = None,
        limits: ScoringLimits | None = None,
        evaluator: Evaluator | None = None,
    ) -> None:
        self._models = models
        self._evaluate: Evaluator = evaluator or (lambda job: evaluate(job, self._contexts))
        self._features = platform_features
        self._authorize = authorize or _allow_all
        self.limits = limits or ScoringLimits()
        self._contexts = ContextCache(self.limits)

    def __call__(self, frame: Frame, bank_id: str) -> Frame:
        """The runtime's ``PartyHandler``: scoring errors come back as ``error`` frames."""
        try:
            return self.score(frame, bank_id)[0]
        except ScoringError as exc:
            return error_frame(exc, frame.job_id)

    def local(self, bank_id: str) -> Callable[[Frame], Frame]:
        """``handle(frame) -> frame`` for one bank, e.g. ``LocalLink(handler.local("bank-a"))``."""
        return lambda frame: self(frame, bank_id)

    def score(self, frame: Frame, bank_id: str) -> tuple[Frame, ScoringReport]:
        """Evaluate one request: the reply and the report, or :class:`ScoringError` (nothing scored)."""
        try:
            request = read(frame, ScoringRequest)
        except FederationError as exc:
            raise ScoringRequestError(str(exc)) from None
        model_id, protocol, n_rows = request.model_id, request.protocol, request.n_rows
        if not 1 <= n_rows <= self.limits.max_rows:
            raise ScoringRequestError(
                f"'n_rows' must be an integer in 1..{self.limits.max_rows}", code="too_large", status=413
            )
        if request.columns < 0:
            raise ScoringRequestError("'columns' must be a non-negative integer")
        model = self._models(bank_id, model_id)
        if model is None:
            raise ScoringModelError(f"model {model_id!r} is not known to the platform")
        groups = None
        if protocol in (LR_DEPOSITED, LR_MASKED, LR_PARTIAL):
            needs_deposit = protocol != LR_PARTIAL
            if isinstance(model, PlatformTreePart) or (
                needs_deposit and not isinstance(model, LogisticDeposit)
            ):
                raise ScoringModelError(
                    f"model {model_id!r} cannot be scored with {protocol}"
                    + (" (the bank has not deposited its half)" if needs_deposit else ""),
                    code="protocol_mismatch",
                    status=422,
                )
            expected = lr_columns_expected(model, protocol)
            platform_names = (model.platform if isinstance(model, LogisticDeposit) else model).features
        elif protocol in (TREE_GROUPS, TREE_MASKED):
            if not isinstance(model, PlatformTreePart):
                raise ScoringModelError(
                    f"model {model_id!r} is not a tree model", code="protocol_mismatch", status=422
                )
            groups = parse_signatures(request.groups, model, self.limits.max_tree_groups)
            expected = len(groups)
            platform_names = model.platform_features
        else:
            raise ScoringRequestError(f"unknown scoring protocol {protocol!r}")
        check_count(request.columns, expected, f"ciphertexts per chunk for {protocol} on model {model_id!r}")

        ctx = self._contexts.load(request.public_context)
        masked = protocol in (TREE_MASKED, LR_MASKED)
        if masked != isinstance(ctx.params, BfvParams):
            raise ScoringContextError(f"protocol {protocol} needs a {'BFV' if masked else 'CKKS'} context")
        slots = ctx.params.slots
        bounds = chunk_bounds(n_rows, slots)
        n_ct = masked_ciphertext_count(n_rows, expected, slots) if masked else len(bounds) * expected
        if n_ct > self.limits.max_ciphertexts:
            raise ScoringRequestError(
                f"{n_ct} ciphertexts exceed the limit of {self.limits.max_ciphertexts}",
                code="too_large",
                status=413,
            )
        check_count(
            len(request.ciphertexts), n_ct, f"ciphertexts for {n_rows} rows with {expected} column(s)"
        )
        for blob in request.ciphertexts:
            self.limits.check_ciphertext_size(ctx.params, len(blob))
        ids = _checked_ids(request.ids, n_rows)

        scored, x_platform, refused = self._admit(bank_id, ids, platform_names)
        out, empty = self._evaluate(
            Evaluation(
                model=model,
                protocol=protocol,
                groups=groups,
                blobs=list(frame.blobs),
                expected=expected,
                n_rows=n_rows,
                x_platform=x_platform,
                scored=scored,
                limits=self.limits,
            )
        )
        report = ScoringReport(
            model_id=model_id,
            protocol=protocol,
            n_rows=n_rows,
            scored_ids=[i for i, ok in zip(ids, scored, strict=True) if ok],
            refused=refused,
        )
        refusals = [(row, reason) for row, _, reason in refused]
        result = ScoringResult(model_id, protocol, n_rows, report.scored, out, refusals, empty)
        return result.to_frame(frame.job_id), report

    def _admit(
        self, bank_id: str, ids: list[str], features: list[str]
    ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, str, str]]]:
        n = len(ids)
        reasons: list[str | None] = list(self._authorize(bank_id, list(ids)))
        if len(reasons) != n:
            raise RuntimeError(f"authorize returned {len(reasons)} decisions for {n} identifiers")
        seen: set[str] = set()
        for row, subject in enumerate(ids):
            if subject in seen and reasons[row] is None:
                reasons[row] = REASON_DUPLICATE
            seen.add(subject)
        allowed = [row for row in range(n) if reasons[row] is None]
        x = np.full((n, len(features)), np.nan)
        if allowed:
            matrix, known = self._features([ids[r] for r in allowed], list(features))
            matrix = np.asarray(matrix, dtype=np.float64).reshape(len(allowed), len(features))
            known = np.asarray(known, dtype=bool).reshape(len(allowed))
            x[allowed] = matrix
            for r, k in zip(allowed, known, strict=True):
                if not k:
                    reasons[r] = REASON_UNKNOWN_SUBJECT
        scored = np.array([r is None for r in reasons], dtype=bool)
        refused = [(row, ids[row], str(reason)) for row, reason in enumerate(reasons) if reason is not None]
        return scored, x, refused


def _checked_ids(ids: list[str], n_rows: int) -> list[str]:
    check_count(len(ids), n_rows, "identifiers")
    if any(not s or len(s) > 128 for s in ids):
        raise ScoringRequestError("identifiers must be non-empty and at most 128 characters")
    return ids
