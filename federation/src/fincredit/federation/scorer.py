"""Bank SDK for encrypted scoring: ``EncryptedScorer(link, model_part).score(df)``.

The bank's secret key is created here and never leaves this object; the platform receives the
context's parameters only. Requests are sized so that one request's ciphertexts stay under a byte
budget (default 64 MiB), which bounds memory on both sides whatever the size of the input; a rich
progress bar follows large batches.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import tenseal as ts
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from fincredit.federation._inputs import scoring_frame
from fincredit.federation._runtime import ERROR_KIND, raise_for_error
from fincredit.federation._scoring_ckks import (
    DEFAULT_BFV_PARAMS,
    DEFAULT_PARAMS,
    LR_BFV_PARAMS,
    BfvParams,
    CkksParams,
    chunk_bounds,
    make_bank_context,
    public_context_bytes,
)
from fincredit.federation._scoring_cli import load_bank_part, save_bank_part, score_file, scoring_app
from fincredit.federation._scoring_lr import (
    LR_DEPOSITED,
    LR_FEATURE_BITS,
    LR_MASKED,
    LR_PARTIAL,
    LR_WEIGHT_BITS,
    bank_lr_columns,
    sigmoid,
)
from fincredit.federation._scoring_masked import (
    bank_masked_decode,
    bank_masked_plaintexts,
    masked_ciphertext_count,
)
from fincredit.federation._scoring_messages import ScoringRequest, ScoringResult, receive
from fincredit.federation._scoring_tree import TREE_GROUPS, TREE_MASKED, TREE_VALUE_BITS, compile_trees
from fincredit.federation.errors import (
    PartyError,
    ScoringCiphertextError,
    ScoringContextError,
    ScoringError,
    ScoringModelError,
    ScoringRequestError,
)
from fincredit.federation.joint_model import BankLogisticPart, BankTreePart
from fincredit.federation.wire import Frame, Link

__all__ = ["EncryptedScorer", "ScoringStats", "load_bank_part", "save_bank_part", "score_file", "scoring_app"]

_ERRORS: dict[str, type[ScoringError]] = {
    cls.__name__: cls
    for cls in (
        ScoringError,
        ScoringRequestError,
        ScoringContextError,
        ScoringCiphertextError,
        ScoringModelError,
    )
}
# CPU cost of one masked BFV ciphertext (encrypt, mask, re-randomise, decrypt) relative to one CKKS
# column ciphertext, measured on this project's 2-core machine: the tree set has two data primes, the
# LR set three.
_MASKED_CT_COST = {TREE_MASKED: 2.4, LR_MASKED: 3.5}
AUTO = "auto"
# Serialised size of one fresh ciphertext at N = 8192 is ~235 kB; the estimate only sizes requests.
_CT_BYTES_PER_SLOT = 60


@dataclass(slots=True)
class ScoringStats:
    """Totals of the last :meth:`EncryptedScorer.score` call, per stage (seconds) and on the wire."""

    rows: int = 0
    scored: int = 0
    refused: int = 0
    requests: int = 0
    ciphertexts_sent: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    encrypt_seconds: float = 0.0
    round_trip_seconds: float = 0.0
    decrypt_seconds: float = 0.0
    refusal_reasons: dict[str, int] = field(default_factory=dict)


class EncryptedScorer:
    """Scores applicants with the bank's half of a joint model; the platform adds its half encrypted.

    ``model_part`` is the bank's half: a :class:`BankLogisticPart` (protocol ``lr-partial`` by default:
    the bank encrypts its own partial logit and deposits nothing; a part whose weights were deposited
    with the platform (``deposit_bank_half``) goes with ``lr-deposited``/``lr-masked``) or a
    :class:`BankTreePart` (``tree-masked``, exact BFV slots, for small requests and ``tree-groups``,
    CKKS, for full 4,096-row chunks, chosen per request unless ``protocol`` fixes one).
    ``score`` returns a DataFrame with the id column, ``score`` (log-odds), ``probability`` and
    ``refused`` (the platform's reason code, None when scored; score and probability are NaN then).
    """

    def __init__(
        self,
        link: Link,
        model_part: BankLogisticPart | BankTreePart,
        *,
        id_column: str = "id",
        protocol: str | None = None,
        params: CkksParams | BfvParams | None = None,
        max_request_bytes: int = 64 * 1024 * 1024,
        max_request_rows: int = 65_536,
        progress: bool | None = None,
    ) -> None:
        self._link = link
        self.model = model_part
        self.id_column = id_column
        if isinstance(model_part, BankTreePart):
            self.protocol = protocol or AUTO
            if self.protocol not in (AUTO, TREE_MASKED, TREE_GROUPS):
                raise ValueError(f"a tree model is scored with {TREE_MASKED!r} or {TREE_GROUPS!r}")
            self._trees = compile_trees(model_part)
            self.features = list(model_part.bank_features)
            columns = len(self._trees.groups)
            self._masked, self._column = TREE_MASKED, TREE_GROUPS
            default_bfv = DEFAULT_BFV_PARAMS
        else:
            # The bank's part holds its weights unless it deposited them (``deposit_bank_half`` keeps
            # only the standardisation). With its weights, the default is lr-partial: nothing deposited,
            # nothing the platform must hold. After a deposit the deposited protocols are the only ones.
            deposited = not model_part.weights
            self.protocol = protocol or (AUTO if deposited else LR_PARTIAL)
            if self.protocol not in (AUTO, LR_DEPOSITED, LR_MASKED, LR_PARTIAL):
                raise ValueError(
                    f"a logistic model is scored with {LR_DEPOSITED!r}, {LR_MASKED!r} or {LR_PARTIAL!r}"
                )
            if deposited and self.protocol == LR_PARTIAL:
                raise ValueError(
                    f"{LR_PARTIAL!r} needs the bank's weights, and this part has none (they were "
                    f"deposited with the platform): score it with {LR_DEPOSITED!r} or {LR_MASKED!r}"
                )
            self.features = list(model_part.features)
            columns = 1 if self.protocol == LR_PARTIAL else len(self.features)
            self._masked, self._column = LR_MASKED, LR_DEPOSITED
            default_bfv = LR_BFV_PARAMS
        self.columns_per_chunk = columns
        masked = self.protocol == self._masked
        if params is not None and self.protocol != AUTO and masked != isinstance(params, BfvParams):
            raise ValueError(f"{self.protocol} needs {'BFV' if masked else 'CKKS'} parameters")
        ckks = params if isinstance(params, CkksParams) else DEFAULT_PARAMS
        bfv = params if isinstance(params, BfvParams) else default_bfv
        self.params: CkksParams | BfvParams = bfv if masked else ckks
        self._ctx = make_bank_context(self.params)
        self._public = public_context_bytes(self._ctx)
        self._keys: dict[bool, tuple[CkksParams | BfvParams, ts.Context, bytes]] = {
            masked: (self.params, self._ctx, self._public)
        }
        if self.protocol == AUTO:
            other = make_bank_context(bfv)
            self._keys[True] = (bfv, other, public_context_bytes(other))
        slots = self.params.slots
        if masked:
            # Request and reply each carry ~32 bytes per (applicant, group) value.
            self.request_rows = max(1, min(max_request_rows, max_request_bytes // (max(1, columns) * 64)))
        else:
            chunk_bytes = max(1, columns) * slots * _CT_BYTES_PER_SLOT
            chunks = max(1, min(max_request_bytes // chunk_bytes, max_request_rows // slots))
            self.request_rows = chunks * slots
        self.progress = progress
        self.stats = ScoringStats()
        self._jobs = itertools.count(1)

    def protocol_for(self, n: int) -> str:
        """The protocol a request of ``n`` rows goes with: unless one was fixed, the masked (BFV) one
        while it needs fewer ciphertexts, weighted by their cost, than the CKKS column one."""
        if self.protocol != AUTO:
            return self.protocol
        columns = self.columns_per_chunk
        if columns == 0:
            return self._column
        masked_cts = masked_ciphertext_count(n, columns, self._keys[True][0].slots)
        column_cts = columns * -(-n // self._keys[False][0].slots)
        cheaper = _MASKED_CT_COST[self._masked] * masked_cts < column_cts
        return self._masked if cheaper else self._column

    @property
    def public_context(self) -> bytes:
        """Exactly what the platform receives about the keys: parameters, no secret key."""
        return self._public

    def score(self, data: pd.DataFrame | Any) -> pd.DataFrame:
        df, ids = scoring_frame(data, self.id_column, self.features)
        x = df[self.features].to_numpy(dtype=np.float64, na_value=np.nan)
        n = len(ids)
        stats = ScoringStats(rows=n)
        self.stats = stats
        logits = np.full(n, np.nan)
        refused: list[str | None] = [None] * n
        show = self.progress if self.progress is not None else n > self.request_rows
        with Progress(
            TextColumn("[bold]encrypted scoring"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            disable=not show,
            transient=False,
        ) as bar:
            task = bar.add_task("score", total=n)
            for lo in range(0, n, self.request_rows):
                hi = min(lo + self.request_rows, n)
                self._score_request(ids[lo:hi], x[lo:hi], logits[lo:hi], refused, lo, stats)
                bar.advance(task, hi - lo)
        stats.scored = int(sum(r is None for r in refused))
        stats.refused = n - stats.scored
        return pd.DataFrame(
            {
                self.id_column: ids,
                "score": logits,
                "probability": sigmoid(logits),
                "refused": pd.Series(refused, dtype="object"),
            }
        )

    def _score_request(
        self,
        ids: list[str],
        x: np.ndarray,
        logits_out: np.ndarray,
        refused: list[str | None],
        offset: int,
        stats: ScoringStats,
    ) -> None:
        t0 = time.perf_counter()
        n = len(ids)
        protocol = self.protocol_for(n)
        params, ctx, public = self._keys[protocol == self._masked]
        if protocol in (TREE_GROUPS, TREE_MASKED):
            values, bank_plain = self._trees.bank_values(x)
        else:
            assert isinstance(self.model, BankLogisticPart)
            values, bank_plain = bank_lr_columns(self.model, x, protocol), np.zeros(n)
        cts: list[bytes] = []
        bits = LR_FEATURE_BITS if protocol == LR_MASKED else TREE_VALUE_BITS
        if isinstance(params, BfvParams):
            for payload in bank_masked_plaintexts(values, bits, params.plain_modulus, params.slots):
                cts.append(ts.bfv_vector(ctx, payload.tolist()).serialize())
        else:
            by_column = np.ascontiguousarray(values.T)
            for lo, hi in chunk_bounds(n, params.slots):
                for j in range(by_column.shape[0]):
                    plain = ts.plain_tensor(by_column[j, lo:hi])
                    cts.append(ts.ckks_vector(ctx, plain).serialize())
        groups = self._trees.signatures_meta() if protocol in (TREE_GROUPS, TREE_MASKED) else None
        request = ScoringRequest(
            self.model.model_id, protocol, n, self.columns_per_chunk, public, ids, cts, groups
        )
        frame = request.to_frame(f"score-{next(self._jobs)}")
        t1 = time.perf_counter()
        response = self._link.call(frame)
        t2 = time.perf_counter()
        _raise_for_error(response)
        result = receive(response, ScoringResult)
        if result.n_rows != n:
            raise PartyError(f"unexpected scoring response {response.kind!r} for {n} rows", code="protocol")
        if isinstance(params, BfvParams):
            if len(result.ciphertexts) != len(cts):
                raise PartyError("the scoring response has the wrong number of ciphertexts", code="protocol")
            decrypted = [np.asarray(ts.bfv_vector_from(ctx, b).decrypt()) for b in result.ciphertexts]
            if protocol == LR_MASKED:
                bits += LR_WEIGHT_BITS
            platform_sum = bank_masked_decode(
                decrypted, n, self.columns_per_chunk, params.plain_modulus, bits
            )
        else:
            bounds = chunk_bounds(n, params.slots)
            if len(result.ciphertexts) != len(bounds):
                raise PartyError("the scoring response has the wrong number of ciphertexts", code="protocol")
            platform_sum = np.zeros(n)
            for (lo, hi), blob in zip(bounds, result.ciphertexts, strict=True):
                if blob:
                    platform_sum[lo:hi] = ts.ckks_vector_from(ctx, blob).decrypt()
        if protocol in (TREE_GROUPS, TREE_MASKED):
            assert isinstance(self.model, BankTreePart)
            raw = self.model.base_score + bank_plain + platform_sum
        else:
            raw = platform_sum
        mask = np.ones(n, dtype=bool)
        for row, reason in result.refused:
            mask[row] = False
            refused[offset + row] = reason
            stats.refusal_reasons[reason] = stats.refusal_reasons.get(reason, 0) + 1
        logits_out[:] = np.where(mask, raw, np.nan)
        t3 = time.perf_counter()
        stats.requests += 1
        stats.ciphertexts_sent += len(cts)
        stats.bytes_sent += sum(len(b) for b in frame.blobs)
        stats.bytes_received += sum(len(b) for b in result.ciphertexts)
        stats.encrypt_seconds += t1 - t0
        stats.round_trip_seconds += t2 - t1
        stats.decrypt_seconds += t3 - t2


def _raise_for_error(frame: Frame) -> None:
    if frame.kind != ERROR_KIND:
        return
    meta = frame.meta
    cls = _ERRORS.get(str(meta.get("error")))
    if cls is None:
        raise_for_error(frame)  # a runtime error frame (wire, unauthorized, internal): PartyError
    else:
        raise cls(
            str(meta.get("message", "scoring failed")), code=meta.get("code"), status=meta.get("status")
        )
