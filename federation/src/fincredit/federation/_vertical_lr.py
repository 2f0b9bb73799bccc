"""Vertical logistic regression between the bank (labels + bank features) and the platform, under CKKS.

Two parties, no arbiter. The bank holds the only CKKS secret key. Model: the joint logit is
``z = z_b + z_p`` with ``z_b = X_b·w_b + b`` (bank) and ``z_p = X_p·w_p`` (platform); each party
standardises its own features on the training rows. Objective: mean log-loss + (l2/2)·|w|² (the
intercept is not penalised), i.e. scikit-learn's ``LogisticRegression(C=1/(l2·n))``. Optimiser:
full-batch Nesterov gradient descent, both parties stepping in lockstep on their own weights, each
preconditioning its own gradient with the inverse of its block of Böhning's fixed Hessian bound
``X^T X / (4n) + l2·I`` (the logistic Hessian never exceeds it). Each party computes its block from its
own standardised features alone, so nothing more crosses; the bound takes the correlations within each
party's features out of the step, and about 15 rounds reach what 80 plain Nesterov rounds did.

The residual ``r = sigmoid(z_b + z_p) - y`` cannot be formed by either party alone. The bank knows
``z_b``, so it fits, per row, a degree-``k`` polynomial in ``u = clip(z_p/T, -1, 1)`` to
``sigmoid(z_b + T·u) - y`` (Chebyshev interpolation; ``T``, ``k`` public) and sends the ``k+1``
coefficient vectors encrypted. The platform evaluates them at its own ``u`` with ct x plain
products only, obtaining ``Enc(r)``. Per iteration:

1. bank -> platform: ``Enc(a_0..a_k)`` (row-packed, 4096 rows per ciphertext), plus the bank's
   decryption of the platform's masked gradient of the previous iteration.
2. platform: ``Enc(r) = sum_m Enc(a_m)·u^m``; draws a fresh random vector ``rho`` and returns
   ``Enc(r - rho)`` (an additive share of ``r``), ``Enc(X_b^T rho)`` computed on the bank's
   encrypted design matrix (sent once, at the start), and ``Enc(X_p^T r)`` per feature. The two
   column sums are slot vectors that the platform masks: ``X_b^T rho`` with a zero-sum mask,
   ``X_p^T r`` with a mask whose total only the platform knows.
3. bank: decrypts ``r - rho`` and the slot totals: its gradient is
   ``X_b^T (r - rho) + X_b^T rho``; it returns the masked platform gradient totals, which the
   platform unmasks.

What each party learns (and nothing else, up to CKKS' semantic security and the statistical hiding
of the real-valued masks, whose amplitude the platform alone sets, against values of order 1; the
model is semi-honest: a bank that crafted its encrypted design matrix could aim its own gradient at
single rows, as in FATE's HeteroLR):

- bank: its own gradient each iteration, its own weights, ``r_i - rho_i`` (a residual masked by a
  fresh uniform value per row and iteration), the masked total of each platform gradient component,
  and at evaluation the joint score of each held-out row (as scoring a new applicant reveals it).
  Never a platform feature value, weight or partial logit of a training row.
- platform: its own gradient each iteration, its own weights, the number of training rows and the
  hyperparameters. Never a label, residual, bank feature or bank weight (all reach it encrypted).

Cost per iteration: ``(k+1 + d_b+1 + d_p)·ceil(n/4096)`` ct x plain products, no rotation, no
ciphertext multiplication, no relinearisation.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import tenseal as ts

from fincredit.federation._ckks import (
    SLOTS,
    column_sums,
    decrypt_chunks,
    decrypt_sum,
    encrypt_chunks,
    load_ciphertexts,
    load_public_context,
    new_secret_context,
    private_rng,
    public_context_bytes,
    to_chunks,
    zero_sum_mask,
)
from fincredit.federation._runtime import Channel, raise_for_error
from fincredit.federation.errors import FederationError
from fincredit.federation.joint_model import BankLogisticPart, PlatformLogisticPart
from fincredit.federation.wire import Frame, Link

__all__ = [
    "BankLogisticTrainer",
    "LogisticParams",
    "PlatformLogisticJob",
    "bank_logits",
    "standardise",
]


@dataclass(slots=True)
class LogisticParams:
    l2: float = 1e-3
    iterations: int = 15
    learning_rate: float = 1.0
    momentum: float = 0.5
    # Each party steps along (its block of the fixed Hessian bound)^-1 · gradient; off, plain Nesterov
    # needs ~80 rounds with momentum 0.9 for the same fit.
    precondition: bool = True
    # Range and degree of the per-row sigmoid interpolation in the platform's partial logit.
    taylor_range: float = 5.0
    degree: int = 7


def standardise(x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    means = x[rows].mean(axis=0)
    scales = x[rows].std(axis=0)
    scales[scales < 1e-12] = 1.0
    return (x - means) / scales, means, scales


def fixed_hessian_inverse(x_train: np.ndarray, l2: float, penalised: np.ndarray | None = None) -> np.ndarray:
    """Inverse of one party's block of Böhning's bound on the log-loss Hessian, ``X^T X/(4n) + l2·D``
    (``D`` the penalised columns; a tiny ridge keeps a constant column invertible without l2)."""
    n, d = x_train.shape
    penalty = np.ones(d) if penalised is None else penalised
    h = x_train.T @ x_train / (4.0 * n) + np.diag(l2 * penalty + 1e-9)
    return np.asarray(np.linalg.inv(h))


def _chebyshev_nodes(degree: int) -> tuple[np.ndarray, np.ndarray]:
    nodes = np.cos(np.pi * (np.arange(degree + 1) + 0.5) / (degree + 1))
    inverse_vandermonde = np.linalg.inv(np.vander(nodes, degree + 1, increasing=True))
    return nodes, inverse_vandermonde


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))


def _rows_blob(rows: np.ndarray) -> bytes:
    return np.asarray(rows, dtype="<u4").tobytes()


def _rows_from(blob: bytes, n_max: int) -> np.ndarray:
    rows = np.frombuffer(blob, dtype="<u4").astype(np.int64)
    if rows.size and (rows.max() >= n_max or np.unique(rows).size != rows.size):
        raise FederationError("row positions are out of range or repeated")
    return rows


def _floats_blob(values: np.ndarray) -> bytes:
    return np.asarray(values, dtype="<f8").tobytes()


def _floats_from(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f8").astype(np.float64)


class PlatformLogisticJob:
    """The platform's half of one vertical LR job: ``handle(frame) -> frame``, pure Python.

    ``features`` are the platform's features for the aligned rows (row ``i`` is join index ``i``).
    """

    def __init__(
        self, features: pd.DataFrame, *, job_id: str = "", model_id: str = "", mask_amplitude: float = 64.0
    ) -> None:
        if mask_amplitude < 1.0:
            raise ValueError("mask_amplitude must be at least 1 (residuals are of order 1)")
        self.mask_amplitude = mask_amplitude
        self.job_id = job_id
        self.model_id = model_id or job_id or uuid.uuid4().hex
        self._all = features
        self._ctx: ts.Context | None = None
        self._params = LogisticParams()
        self._x = np.zeros((0, 0))
        self._x_chunks: list[np.ndarray] = []
        self._names: list[str] = []
        self._means = np.zeros(0)
        self._scales = np.zeros(0)
        self._train = np.zeros(0, dtype=np.int64)
        self._bank_columns: dict[int, list[ts.CKKSVector]] = {}
        self._n_bank_columns = 0
        self._w = np.zeros(0)
        self._v = np.zeros(0)
        self._step_matrix: np.ndarray | None = None
        self._pending_mask_totals: np.ndarray | None = None
        self._uploaded: list[bytes] = []
        self._iteration = -1
        self.done = False
        self._rng = private_rng()

    def handle(self, frame: Frame) -> Frame:
        handlers: dict[str, Callable[[Frame], Frame]] = {
            "lr.open": self._open,
            "lr.bank_column": self._bank_column,
            "lr.upload": self._upload,
            "lr.step": self._step,
            "lr.finish": self._finish,
            "lr.score": self._score,
        }
        handler = handlers.get(frame.kind)
        if handler is None:
            raise FederationError(f"unknown LR frame kind {frame.kind!r}")
        if frame.kind != "lr.open" and self._ctx is None:
            raise FederationError("the LR job has not been opened")
        return handler(frame)

    def model_part(self) -> PlatformLogisticPart:
        if not self.done:
            raise FederationError("the LR job has not finished training")
        return PlatformLogisticPart(
            model_id=self.model_id,
            features=list(self._names),
            weights=[float(w) for w in self._w],
            means=[float(m) for m in self._means],
            scales=[float(s) for s in self._scales],
        )

    def _reply(
        self, kind: str, meta: dict[str, Any] | None = None, blobs: list[bytes] | None = None
    ) -> Frame:
        return Frame(kind=kind, job_id=self.job_id, meta=meta or {}, blobs=blobs or [])

    def _open(self, frame: Frame) -> Frame:
        if self._ctx is not None:
            raise FederationError("the LR job is already open")
        names = [str(n) for n in frame.meta.get("platform_features", [])]
        missing = [n for n in names if n not in self._all.columns]
        if not names or missing:
            raise FederationError(f"platform features not available for this job: {missing or 'none asked'}")
        if len(frame.blobs) != 2:
            raise FederationError("lr.open carries the public context and the training rows")
        ctx = load_public_context(frame.blobs[0])
        self._params = LogisticParams(**frame.meta["params"])
        raw = self._all[names].to_numpy(dtype=np.float64)
        train = _rows_from(frame.blobs[1], raw.shape[0])
        self._x, self._means, self._scales = standardise(raw, train)
        self._names, self._train = names, train
        x_train = self._x[train]
        self._x_chunks = [c for c in np.moveaxis(np.stack(to_chunks(x_train)), 2, 0)]
        self._n_bank_columns = int(frame.meta["bank_columns"])
        self._w = np.zeros(len(names))
        self._v = np.zeros(len(names))
        self._step_matrix = (
            fixed_hessian_inverse(x_train, self._params.l2) if self._params.precondition else None
        )
        self._ctx = ctx
        return self._reply("lr.ready", {"features": len(names), "rows": int(train.size)})

    def _bank_column(self, frame: Frame) -> Frame:
        assert self._ctx is not None
        j = int(frame.meta["column"])
        if not 0 <= j < self._n_bank_columns:
            raise FederationError("bank column index out of range")
        cts = load_ciphertexts(self._ctx, frame.blobs)
        if len(cts) != len(to_chunks(np.zeros(self._train.size))):
            raise FederationError("bank column has the wrong number of ciphertexts")
        self._bank_columns[j] = cts
        return self._reply("lr.ack", {"column": j})

    def _apply_update(self, masked_totals: bytes) -> None:
        if self._pending_mask_totals is None:
            raise FederationError("no gradient is pending")
        totals = _floats_from(masked_totals)
        if totals.shape != self._pending_mask_totals.shape:
            raise FederationError("gradient totals have the wrong length")
        p = self._params
        grad = (totals - self._pending_mask_totals) / self._train.size + p.l2 * self._lookahead()
        if self._step_matrix is not None:
            grad = self._step_matrix @ grad
        self._v = p.momentum * self._v - p.learning_rate * grad
        self._w = self._w + self._v
        self._pending_mask_totals = None

    def _lookahead(self) -> np.ndarray:
        return np.asarray(self._w + self._params.momentum * self._v)

    def _upload(self, frame: Frame) -> Frame:
        """Part of the next step's coefficient ciphertexts, when they exceed one frame."""
        if int(frame.meta["iteration"]) != self._iteration + 1:
            raise FederationError("an upload must belong to the next iteration")
        n_chunks = len(to_chunks(np.zeros(self._train.size)))
        if len(self._uploaded) + len(frame.blobs) > (self._params.degree + 1) * n_chunks:
            raise FederationError("more coefficient ciphertexts uploaded than one step uses")
        self._uploaded.extend(frame.blobs)
        return self._reply("lr.ack", {"uploaded": len(self._uploaded)})

    def _step(self, frame: Frame) -> Frame:
        assert self._ctx is not None
        if self.done:
            raise FederationError("the LR job has finished")
        if len(self._bank_columns) != self._n_bank_columns:
            raise FederationError("the bank's encrypted columns have not all arrived")
        iteration = int(frame.meta["iteration"])
        if iteration != self._iteration + 1:
            raise FederationError(f"expected iteration {self._iteration + 1}, got {iteration}")
        blobs = list(frame.blobs)
        if self._pending_mask_totals is not None:
            self._apply_update(blobs.pop(0))
        blobs = self._uploaded + blobs
        self._uploaded = []
        p = self._params
        n_chunks = len(self._x_chunks[0]) if self._x_chunks else len(to_chunks(np.zeros(self._train.size)))
        if len(blobs) != (p.degree + 1) * n_chunks:
            raise FederationError("lr.step carries the wrong number of coefficient ciphertexts")
        coefficients = load_ciphertexts(self._ctx, blobs)
        z = self._x[self._train] @ self._lookahead()
        u_chunks = to_chunks(np.clip(z / p.taylor_range, -1.0, 1.0))
        residual: list[ts.CKKSVector] = []
        for c in range(n_chunks):
            acc: ts.CKKSVector | None = None
            for m in range(p.degree + 1):
                term = coefficients[m * n_chunks + c] * (u_chunks[c] ** m)
                acc = term if acc is None else acc + term
            assert acc is not None
            residual.append(acc)
        rho = [self._rng.uniform(-self.mask_amplitude, self.mask_amplitude, SLOTS) for _ in range(n_chunks)]
        shares = [(r - m).serialize() for r, m in zip(residual, rho, strict=True)]
        # One encryption of a random e (|e| in [1, 2]) per step blinds every returned sum: the mask v of
        # each output is added as Enc(e)·(v/e), a ct x plain product instead of a fresh encryption.
        e = self._rng.uniform(1.0, 2.0, SLOTS) * self._rng.choice([-1.0, 1.0], SLOTS)
        enc_e = ts.ckks_vector(self._ctx, e)
        amplitude = self.mask_amplitude * 16
        corrections = []
        for j in range(self._n_bank_columns):
            mask = zero_sum_mask(self._rng, SLOTS, amplitude)
            (acc_j,) = column_sums(self._ctx, [*self._bank_columns[j], enc_e], [np.stack([*rho, mask / e])])
            corrections.append(acc_j.serialize())
        gradient_masks = [self._rng.uniform(-amplitude, amplitude, SLOTS) for _ in self._names]
        totals = np.array([m.sum() for m in gradient_masks])
        columns = [
            np.vstack([column, (m / e)[None, :]])
            for column, m in zip(self._x_chunks, gradient_masks, strict=True)
        ]
        gradients = [acc.serialize() for acc in column_sums(self._ctx, [*residual, enc_e], columns)]
        self._pending_mask_totals = totals
        self._iteration = iteration
        meta = {"iteration": iteration, "shares": len(shares), "corrections": len(corrections)}
        return self._reply("lr.shares", meta, shares + corrections + gradients)

    def _finish(self, frame: Frame) -> Frame:
        if self._pending_mask_totals is not None:
            if len(frame.blobs) != 1:
                raise FederationError("lr.finish carries the last gradient totals")
            self._apply_update(frame.blobs[0])
        self.done = True
        self._bank_columns.clear()
        return self._reply("lr.done", {"iterations": self._iteration + 1})

    def _score(self, frame: Frame) -> Frame:
        if not self.done:
            raise FederationError("scores are available only after training")
        rows = _rows_from(frame.blobs[0], self._x.shape[0])
        if np.intersect1d(rows, self._train).size:
            raise FederationError("evaluation rows must be held out of training")
        return self._reply("lr.partial", {"rows": int(rows.size)}, [_floats_blob(self._x[rows] @ self._w)])


@dataclass(slots=True)
class TrainingLog:
    iterations: int = 0
    seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)


class BankLogisticTrainer:
    """The bank's driver of a vertical LR job over a :class:`Link` (or a runtime ``Channel``)."""

    def __init__(
        self,
        link: Link | Channel,
        *,
        job_id: str | None = None,
        params: LogisticParams | None = None,
        progress: Callable[[int, int], None] | None = None,
        timeout: float = 600.0,
        frame_bytes: int = 96 * 1024 * 1024,
    ) -> None:
        self.channel = link if isinstance(link, Channel) else Channel(link, timeout=timeout, retries=0)
        self.job_id = job_id or uuid.uuid4().hex
        self.params = params or LogisticParams()
        # Coefficients of one step beyond this many bytes travel in preceding lr.upload frames, so a
        # million-row job stays under the wire's frame limit.
        self.frame_bytes = frame_bytes
        self._progress = progress
        self.log = TrainingLog()

    def _call(self, kind: str, meta: dict[str, Any], blobs: list[bytes], expect: str) -> Frame:
        reply = raise_for_error(
            self.channel.call(Frame(kind=kind, job_id=self.job_id, meta=meta, blobs=blobs))
        )
        if reply.kind != expect:
            raise FederationError(f"expected {expect!r} from the platform, got {reply.kind!r}")
        return reply

    def fit(
        self,
        x_bank: np.ndarray,
        y: np.ndarray,
        *,
        features: Sequence[str],
        platform_features: Sequence[str],
        train_rows: np.ndarray,
        model_id: str | None = None,
    ) -> BankLogisticPart:
        """``x_bank`` and ``y`` cover all aligned rows; only ``train_rows`` are trained on."""
        started = time.perf_counter()
        p = self.params
        ctx = new_secret_context()
        x_std, means, scales = standardise(np.asarray(x_bank, dtype=np.float64), train_rows)
        xb = np.hstack([x_std[train_rows], np.ones((train_rows.size, 1))])
        yt = np.asarray(y, dtype=np.float64)[train_rows]
        n = train_rows.size
        ready = self._call(
            "lr.open",
            {"params": asdict(p), "platform_features": list(platform_features), "bank_columns": xb.shape[1]},
            [public_context_bytes(ctx), _rows_blob(train_rows)],
            "lr.ready",
        )
        d_p = int(ready.meta["features"])
        for j in range(xb.shape[1]):
            self._call("lr.bank_column", {"column": j}, encrypt_chunks(ctx, xb[:, j]), "lr.ack")
        nodes, inv_vander = _chebyshev_nodes(p.degree)
        penalty = np.r_[np.ones(xb.shape[1] - 1), 0.0]
        step_matrix = fixed_hessian_inverse(xb, p.l2, penalty) if p.precondition else None
        w, v = np.zeros(xb.shape[1]), np.zeros(xb.shape[1])
        carry: list[bytes] = []
        n_chunks = len(to_chunks(np.zeros(n)))
        for it in range(p.iterations):
            look = w + p.momentum * v
            z_b = xb @ look
            values = _sigmoid(z_b[:, None] + p.taylor_range * nodes[None, :])
            coefficients = values @ inv_vander.T
            coefficients[:, 0] -= yt
            blobs: list[bytes] = []
            for m in range(p.degree + 1):
                blobs.extend(encrypt_chunks(ctx, coefficients[:, m]))
            blobs = self._upload_all_but_last_batch(it, blobs)
            reply = self._call("lr.step", {"iteration": it}, carry + blobs, "lr.shares")
            n_corr = int(reply.meta["corrections"])
            if len(reply.blobs) != n_chunks + n_corr + d_p or n_corr != xb.shape[1]:
                raise FederationError("lr.shares has the wrong number of ciphertexts")
            share = decrypt_chunks(ctx, reply.blobs[:n_chunks], n)
            correction = np.array([decrypt_sum(ctx, b)[0] for b in reply.blobs[n_chunks : n_chunks + n_corr]])
            platform_totals = np.array([decrypt_sum(ctx, b)[0] for b in reply.blobs[n_chunks + n_corr :]])
            grad = (xb.T @ share + correction) / n + p.l2 * penalty * look
            step = grad if step_matrix is None else step_matrix @ grad
            v = p.momentum * v - p.learning_rate * step
            w = w + v
            carry = [_floats_blob(platform_totals)]
            self.log.history.append({"iteration": float(it), "grad_norm": float(np.linalg.norm(grad))})
            if self._progress is not None:
                self._progress(it + 1, p.iterations)
        self._call("lr.finish", {}, carry, "lr.done")
        self.log.iterations = p.iterations
        self.log.seconds = time.perf_counter() - started
        self._means, self._scales, self._w = means, scales, w
        return BankLogisticPart(
            model_id=model_id or self.job_id,
            features=list(features),
            weights=[float(x) for x in w[:-1]],
            intercept=float(w[-1]),
            means=[float(m) for m in means],
            scales=[float(s) for s in scales],
        )

    def _upload_all_but_last_batch(self, iteration: int, blobs: list[bytes]) -> list[bytes]:
        batch: list[bytes] = []
        size = 0
        for blob in blobs:
            if batch and size + len(blob) > self.frame_bytes:
                self._call("lr.upload", {"iteration": iteration}, batch, "lr.ack")
                batch, size = [], 0
            batch.append(blob)
            size += len(blob)
        return batch

    def joint_scores(self, part: BankLogisticPart, x_bank: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Joint logits of held-out ``rows``; the platform reveals its partial logit for these rows only."""
        reply = self._call("lr.score", {}, [_rows_blob(rows)], "lr.partial")
        return bank_logits(part, np.asarray(x_bank, dtype=np.float64)[rows]) + _floats_from(reply.blobs[0])


def bank_logits(part: BankLogisticPart, x: np.ndarray) -> np.ndarray:
    z = (x - np.asarray(part.means)) / np.asarray(part.scales)
    return np.asarray(z @ np.asarray(part.weights) + part.intercept)
