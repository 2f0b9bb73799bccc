"""SecureBoost-style vertical gradient-boosted trees under CKKS (bank = label holder = active party).

The trees are LightGBM's (``_gbdt``: same bins, same split scans, same leaf-wise growth, same
float32 gradients); this module is how the histograms of the platform's features are computed
without either party revealing its data. For every leaf whose histogram the tree learner needs, the
bank sends the platform the leaf's in-sample rows (positions in the training rows), the platform
feature indices still worth scanning there, and ``Enc(g)``, ``Enc(h)`` in one of two row layouts
(``_sb_histogram``): *compact* (the leaf's rows only) or *full* (every training row at a fixed slot,
zero outside the leaf: the platform's masks then never change, so it encodes them once per job). Each
row is repeated in the ``R`` segments of its ciphertext, so that one returned pair of ciphertexts
carries ``2R`` bins. The platform bins its features privately (LightGBM's cut points, which never leave
it) and returns, per group of bins, ``sum_c Enc_c · mask_c`` (a complex 0/1/i mask: two bins per
segment) blinded by a mask whose slots sum to zero per segment. The bank decrypts and sums each
segment. No rotation, no ciphertext product. Only one child of each split is requested (LightGBM's
smaller one); its sibling is the parent minus it, in the clear at the bank.

For a platform split the bank sends (leaf rows, feature index, bin index, where missing values go),
or for a categorical feature (``categorical_feature``) the bins that go left; the platform records
``split_id -> (feature, threshold, default_left)`` or ``split_id -> (feature, category codes)`` and
returns only the split id and the left/right partition of the leaf's training (and validation) rows.

Cost model (measured on this 2-core machine): a ct x plain product 0.13 ms, encoding a mask 0.54 ms,
each returned ciphertext ~3.5 ms (blinding and serialisation at the platform, load and decryption at
the bank), each ciphertext the bank sends ~3 ms (encoding, encryption, serialisation, load). A leaf of
``r`` rows and ``F·B`` scanned bins costs ``F·B·r/4096`` products, ``F·B·r/8192`` mask encodings
(none in the full layout after the first tree), ``F·B/R`` returned and ``2·R·r/4096`` sent
ciphertexts; ``R`` is chosen to balance the last two (``choose_replicas``). The full layout pays
products over every training row, so the bank uses it for leaves of at least a third of the rows (the
root and often its smaller child). The platform's work runs in ``workers`` Ray actors (features shared
out by bin count, each actor caching its features' masks), since SEAL holds the GIL; the bank's half
(encrypting a request, decrypting its answer) runs in the bank's own processes for the same reason
(``_sb_bank_pool``: the secret key goes to them and nowhere else). An additively
homomorphic scheme with one ciphertext per row (SecretFlow's OU) does ``n·F_p`` additions per level
instead, after ``n`` encryptions per tree: a different protocol, not a tuning of this one.

What each party learns:

- bank: for every requested leaf and every scanned platform feature, the per-bin sums of ``g`` and
  ``h`` (with ``use_quantized_grad``, of its own integer gradients: coarser numbers, nothing more)
  (bins in threshold order, thresholds unknown; row counts only as LightGBM estimates them, from
  ``h``); whether each platform feature has missing values among the training rows and which of its
  bins is the most frequent; the **instance partition of every split**, platform splits included (the
  bank needs it to grow the tree and to update its predictions), and of the validation rows when
  early stopping is on; which platform feature index each platform split uses; at evaluation, the
  left/right partition of the held-out rows at each platform split. For a platform feature the bank
  declares categorical: its bins are categories in decreasing order of count (bin 0: missing, negative
  and rare codes), so the bank learns how many categories it has and their per-category sums, never
  which code a bin holds. Never a platform feature value, threshold or category code.
- platform: the number of bins of its own features; the in-sample row set of every leaf the bank asks
  a histogram for (so the partitions made by the bank's splits too); the tree shapes implied by it;
  which of its features are still scanned in a leaf (those with a valid split in the parent); with
  bagging, each tree's bag; with GOSS, each tree's sample, whose first ``top_rate`` part are the rows
  of largest ``|g·h|``: the rows the current model fits worst; at the end, the number of splits and
  total gain of each of its own features (the bank sends them); whether the job uses quantized
  gradients and how many levels they have (a parameter of the job); at a categorical split on its
  feature, which of its categories go left (the bank's choice, made on gradient ratios it never sees).
  Never a label, gradient, hessian or leaf value (g and h reach it encrypted, quantized or not).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from fincredit.federation import _sb_messages as msg
from fincredit.federation._ckks import (
    SECUREBOOST_COEFF_MOD_BITS,
    SECUREBOOST_SCALE_BITS,
    new_secret_context,
    private_rng,
    public_context_bytes,
    secret_context_bytes,
)
from fincredit.federation._ckks_seal import SealKit
from fincredit.federation._gbdt import (
    BinLayout,
    BoostResult,
    FeatureBins,
    Histograms,
    PlainSource,
    Quantized,
    SecureBoostParams,
    SplitInfo,
    bin_columns,
    bin_feature,
    boost,
    quantile_thresholds,
)
from fincredit.federation._runtime import Channel, raise_for_error
from fincredit.federation._sb_bank_pool import BankCrypto
from fincredit.federation._sb_histogram import (
    DEFAULT_CACHE_BYTES,
    FLOAT,
    HistogramWorker,
    choose_replicas,
    decrypt_sums,
    histogram_blobs,
    layout,
    packing_for,
    platform_kit,
    use_full_layout,
)
from fincredit.federation._training_protocol import TrainingProtocol
from fincredit.federation.errors import FederationError
from fincredit.federation.joint_model import BankTreePart, PlatformSplit, PlatformTreePart, TreeNode
from fincredit.federation.wire import Frame, Link

__all__ = [
    "BankSecureBoostTrainer",
    "PlatformSecureBoostJob",
    "SecureBoost",
    "SecureBoostParams",
    "bin_feature",
    "decrypt_sums",
    "fit_plain",
    "histogram_blobs",
    "quantile_thresholds",
    "tree_scores",
]


_local_workers: dict[tuple[str, str], HistogramWorker] = {}
_M = TypeVar("_M", bound=msg.Message)


def _checked(rows: np.ndarray, n_max: int) -> np.ndarray:
    if rows.size and (rows.max() >= n_max or np.unique(rows).size != rows.size):
        raise FederationError("row positions are out of range or repeated")
    return rows


def _seed(rng: np.random.Generator) -> int:
    """A fresh private seed for one histogram task's masks."""
    return int(rng.integers(0, 2**63))


class PlatformSecureBoostJob:
    """The platform's half of one SecureBoost job: ``handle(frame) -> frame``, pure Python."""

    def __init__(
        self,
        features: pd.DataFrame,
        *,
        job_id: str = "",
        model_id: str = "",
        mask_amplitude: float = 64.0,
        min_node_rows: int = 20,
        workers: int = 1,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        # Both guards are the platform's own: the bank's parameters cannot lower them.
        self.mask_amplitude = mask_amplitude
        self.min_node_rows = min_node_rows
        self.job_id = job_id
        self.model_id = model_id or job_id or uuid.uuid4().hex
        self._all = features
        self._ctx: bytes | None = None
        self._params = SecureBoostParams()
        self._packing = FLOAT
        self._names: list[str] = []
        self._raw = np.zeros((0, 0))
        self._binning: list[FeatureBins] = []
        self._bins = np.zeros((0, 0), dtype=np.int32)
        self._valid_bins = np.zeros((0, 0), dtype=np.int32)
        self._train = np.zeros(0, dtype=np.int64)
        self._valid = np.zeros(0, dtype=np.int64)
        self._splits: dict[int, PlatformSplit] = {}
        self._importance: dict[str, tuple[int, float]] = {}
        self.done = False
        self._rng = private_rng()
        # Histogram work: one in-process worker, or ``workers`` Ray actors each holding a share of the
        # features (and their cached masks); CPU seconds the workers spent, wherever they ran.
        self.workers = max(1, workers)
        self._cache_bytes = cache_bytes
        self._workers: list[Any] = []
        self._owner: list[tuple[int, int]] = []  # feature -> (worker, its column in that worker)
        self.worker_cpu_seconds = 0.0
        if self.workers > 1:
            from fincredit.federation._ray import ensure_ray

            ensure_ray()  # here, in the thread that builds the job: Ray starts from the main thread

    def handle(self, frame: Frame) -> Frame:
        routes: dict[str, Callable[[Frame], msg.Message]] = {
            msg.Open.KIND: lambda f: self._open(msg.Open.from_frame(f)),
            msg.Hist.KIND: lambda f: self._hist(msg.Hist.from_frame(f)),
            msg.Split.KIND: lambda f: self._split(msg.Split.from_frame(f)),
            msg.Finish.KIND: lambda f: self._finish(msg.Finish.from_frame(f)),
            msg.Route.KIND: lambda f: self._route(msg.Route.from_frame(f)),
        }
        route = routes.get(frame.kind)
        if route is None:
            raise FederationError(f"unknown SecureBoost frame kind {frame.kind!r}")
        if frame.kind != msg.Open.KIND and self._ctx is None:
            raise FederationError("the SecureBoost job has not been opened")
        return route(frame).to_frame(self.job_id)

    def model_part(self) -> PlatformTreePart:
        if not self.done:
            raise FederationError("the SecureBoost job has not finished training")
        return PlatformTreePart(
            model_id=self.model_id,
            platform_features=list(self._names),
            splits=dict(self._splits),
            importance=dict(self._importance),
        )

    def _open(self, request: msg.Open) -> msg.Ready:
        if self._ctx is not None:
            raise FederationError("the SecureBoost job is already open")
        names = request.platform_features
        missing = [n for n in names if n not in self._all.columns]
        if not names or missing:
            raise FederationError(f"platform features not available for this job: {missing or 'none asked'}")
        ctx = request.public_context
        platform_kit(ctx)  # refuses a context that is not valid or that could decrypt
        params = request.params
        if params.min_data_in_leaf < self.min_node_rows:
            raise FederationError(
                f"min_data_in_leaf must be at least {self.min_node_rows}: the platform serves no smaller node"
            )
        self._params = params
        self._raw = self._all[names].to_numpy(dtype=np.float64)
        self._train = _checked(request.train_rows, self._raw.shape[0])
        self._valid = _checked(request.valid_rows, self._raw.shape[0])
        if np.intersect1d(self._valid, self._train).size:
            raise FederationError("validation rows must be held out of training")
        train_values = self._raw[self._train]
        self._binning = bin_columns(train_values, names, params)
        self._bins = np.stack([fb.bins(train_values[:, j]) for j, fb in enumerate(self._binning)], axis=1)
        self._valid_bins = np.stack(
            [fb.bins(self._raw[self._valid, j]) for j, fb in enumerate(self._binning)], axis=1
        )
        self._names = names
        if params.use_quantized_grad:
            self._packing = packing_for(self._train.size, params.num_grad_quant_bins)
        self._start_workers(ctx)
        self._ctx = ctx
        return msg.Ready(
            bins=[fb.n_bins for fb in self._binning],
            missing=[fb.has_nan for fb in self._binning],
            most_freq_bin=[fb.most_freq_bin for fb in self._binning],
            packing=self._packing,
            categorical=[fb.categorical for fb in self._binning],
        )

    def _start_workers(self, ctx: bytes) -> None:
        """Share the features among the workers, balancing their bin counts (a feature's cost)."""
        n_workers = min(self.workers, len(self._names))
        shares: list[list[int]] = [[] for _ in range(n_workers)]
        load = [0] * n_workers
        for j in sorted(range(len(self._names)), key=lambda j: -self._binning[j].n_bins):
            w = load.index(min(load))
            shares[w].append(j)
            load[w] += self._binning[j].n_bins
        self._owner = [(0, 0)] * len(self._names)
        for w, share in enumerate(shares):
            for k, j in enumerate(share):
                self._owner[j] = (w, k)
        args = [
            (ctx, self._bins[:, share], [self._binning[j].n_bins for j in share], self.mask_amplitude)
            for share in shares
        ]
        if n_workers == 1:
            # A job the platform service reloads from its saved state between frames finds the worker
            # (and its cached masks) it left in this process, if it ran here.
            key = (self.job_id, hashlib.sha256(ctx).hexdigest())
            worker = _local_workers.get(key)
            if worker is None:
                worker = HistogramWorker(*args[0], cache_bytes=self._cache_bytes)
                _local_workers.clear()  # one job's masks at a time per process
                _local_workers[key] = worker
            self._workers = [worker]
            return
        import ray

        actor = ray.remote(num_cpus=1, max_restarts=0)(HistogramWorker)
        per_worker = self._cache_bytes // n_workers
        self._workers = [actor.remote(*a, cache_bytes=per_worker) for a in args]
        ray.get([w.ready.remote() for w in self._workers])

    def close(self) -> None:
        """Release the workers (Ray actors end with their handles)."""
        self._workers = []

    # The platform service saves a job between frames (any instance or Ray worker takes the next one):
    # the histogram workers (SEAL plaintext caches, Ray actor handles) are not part of the saved state;
    # a loaded job starts them again at its next histogram.
    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_workers"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._workers = []

    def _hist(self, request: msg.Hist) -> msg.Histogram:
        assert self._ctx is not None
        if self.done:
            raise FederationError("the SecureBoost job has finished")
        rows = _checked(request.rows, self._train.size)
        if rows.size < self.min_node_rows:
            raise FederationError(
                f"histograms are only served for nodes of at least {self.min_node_rows} rows"
            )
        scanned = request.features
        if any(not 0 <= j < len(self._names) for j in scanned):
            raise FederationError("sb.hist names a platform feature out of range")
        full, replicas = request.full, request.replicas
        _, chunks = layout(self._train.size if full else rows.size, replicas)
        if len(request.gh) != 2 * chunks:
            raise FederationError("sb.hist carries the wrong number of ciphertexts for its rows")
        index, blobs = self._histograms(rows, full, replicas, request.gh, scanned)
        return msg.Histogram(scanned, full, replicas, index, blobs)

    def _histograms(
        self, rows: np.ndarray, full: bool, replicas: int, gh: list[bytes], scanned: list[int]
    ) -> tuple[list[Any], list[bytes]]:
        if not self._workers:  # a job loaded from its saved state
            assert self._ctx is not None
            self._start_workers(self._ctx)
        # A scanned feature's keys start where the bins of those scanned before it end.
        offsets = np.concatenate([[0], np.cumsum([self._binning[j].n_bins for j in scanned])[:-1]])
        by_worker: dict[int, tuple[list[int], list[int]]] = {}
        for j, offset in zip(scanned, offsets.tolist(), strict=True):
            local, starts = by_worker.setdefault(self._owner[j][0], ([], []))
            local.append(self._owner[j][1])
            starts.append(int(offset))
        calls = {w: (local, starts, _seed(self._rng)) for w, (local, starts) in by_worker.items()}
        if len(self._workers) == 1:
            (local, starts, seed) = calls[0]
            answers = {
                0: self._workers[0].histograms(rows, full, replicas, gh, local, starts, seed, self._packing)
            }
        else:
            import ray

            rows_ref, gh_ref = ray.put(rows), ray.put(gh)
            refs = {
                w: self._workers[w].histograms.remote(
                    rows_ref, full, replicas, gh_ref, local, starts, seed, self._packing
                )
                for w, (local, starts, seed) in calls.items()
            }
            answers = dict(zip(refs, ray.get(list(refs.values())), strict=True))
        groups: list[Any] = []
        blobs: list[bytes] = []
        for w in sorted(answers):
            worker_groups, worker_blobs, cpu = answers[w]
            self.worker_cpu_seconds += cpu
            groups += worker_groups
            blobs += worker_blobs
        return groups, blobs

    def _split(self, request: msg.Split) -> msg.Partition:
        if self.done:
            raise FederationError("the SecureBoost job has finished")
        rows = _checked(request.rows, self._train.size)
        valid = _checked(request.valid, self._valid.size)
        j = request.feature
        if not 0 <= j < len(self._names):
            raise FederationError("split feature out of range")
        fb = self._binning[j]
        split_id = len(self._splits)
        if fb.categorical:
            cat_bins = request.cat_bins
            if (
                not cat_bins
                or len(set(cat_bins)) != len(cat_bins)
                or not all(0 < b < fb.n_bins for b in cat_bins)
            ):
                raise FederationError("a categorical split names distinct bins 1 .. bins - 1")
            split = PlatformSplit(split_id, self._names[j], None, False, fb.category_set(cat_bins))

            def left(bins: np.ndarray) -> np.ndarray:
                return np.isin(bins, cat_bins)

        else:
            b = request.bin
            if request.cat_bins or not 0 <= b < fb.n_bins - 1:
                raise FederationError("split bin out of range, or categories for a numerical feature")
            default_left = request.default_left if fb.has_nan else fb.default_left(b)
            split = PlatformSplit(split_id, self._names[j], fb.threshold(b), default_left)

            def left(bins: np.ndarray) -> np.ndarray:
                out = bins <= b
                return np.where(bins == fb.nan_bin, default_left, out) if fb.has_nan else out

        self._splits[split_id] = split
        return msg.Partition(
            split_id, msg.bits(left(self._bins[rows, j])), msg.bits(left(self._valid_bins[valid, j]))
        )

    def _finish(self, request: msg.Finish) -> msg.Done:
        self.done = True
        self.close()
        for k, (splits, gain) in request.importance.items():
            if 0 <= k < len(self._names):
                self._importance[self._names[k]] = (splits, gain)
        return msg.Done(len(self._splits))

    def _route(self, request: msg.Route) -> msg.Directions:
        if not self.done:
            raise FederationError("routing is available only after training")
        rows = _checked(request.rows, self._raw.shape[0])
        if np.intersect1d(rows, self._train).size:
            raise FederationError("evaluation rows must be held out of training")
        index = {n: j for j, n in enumerate(self._names)}
        blobs = []
        for split_id in range(len(self._splits)):
            s = self._splits[split_id]
            blobs.append(msg.bits(s.goes_left(self._raw[rows, index[s.feature]])))
        return msg.Directions(blobs)


@dataclass(slots=True)
class BoostingLog:
    trees: int = 0
    seconds: float = 0.0
    histogram_requests: int = 0
    platform_seconds: float = 0.0
    bank_processes: int = 1
    bank_process_cpu_seconds: float = 0.0  # in the bank's encryption processes, beside its own process
    history: list[dict[str, float]] = field(default_factory=list)


class _FederatedSource:
    """Histograms and partitions over the bank's features (in the clear) and the platform's (over the
    link): features ``0..nb-1`` are the bank's, ``nb..`` the platform's, as in a joined matrix."""

    def __init__(
        self, trainer: BankSecureBoostTrainer, bank: PlainSource, platform_bins: Sequence[int]
    ) -> None:
        self.trainer = trainer
        self.bank = bank
        self.nb = len(bank.feature_bins)
        self.platform_bins = list(platform_bins)

    def histograms(
        self,
        rows: np.ndarray,
        g: np.ndarray,
        h: np.ndarray,
        features: np.ndarray,
        quant: Quantized | None = None,
    ) -> Histograms:
        out = self.bank.histograms(rows, g, h, features[: self.nb], quant)
        scanned = [j for j in range(len(self.platform_bins)) if features[self.nb + j]]
        platform: Histograms = [(np.zeros(0), np.zeros(0))] * len(self.platform_bins)
        if scanned:
            got = self.trainer._platform_histogram(rows, g, h, scanned, quant)
            for j, hist in zip(scanned, got, strict=True):
                platform[j] = hist
        return out + platform

    def partition(
        self, split: SplitInfo, rows: np.ndarray, valid: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, object]:
        if split.feature < self.nb:
            left, valid_left = self.bank.masks(split, rows, valid)
            return left, valid_left, ("bank", *self.bank.content(split))
        request = msg.Split(
            split.feature - self.nb, split.bin, split.default_left, rows, valid, list(split.cat_bins)
        )
        reply = self.trainer._call(request, msg.Partition)
        return (
            msg.unbits(reply.left, rows.size),
            msg.unbits(reply.valid_left, valid.size),
            ("platform", reply.split_id),
        )


class BankSecureBoostTrainer:
    """The bank's driver of a SecureBoost job over a :class:`Link` (or a runtime ``Channel``)."""

    def __init__(
        self,
        link: Link | Channel,
        *,
        job_id: str | None = None,
        params: SecureBoostParams | None = None,
        progress: Callable[[int, int], None] | None = None,
        timeout: float = 600.0,
        processes: int | None = None,
    ) -> None:
        """``processes``: the bank's own processes for encrypting and decrypting histogram requests
        (``None``: this machine's cores, at most four; 1: this process only)."""
        self.channel = link if isinstance(link, Channel) else Channel(link, timeout=timeout, retries=0)
        self.processes = processes
        self.job_id = job_id or uuid.uuid4().hex
        self.params = params or SecureBoostParams()
        self._progress = progress
        self.log = BoostingLog()
        self._kit: SealKit | None = None
        self._crypto: BankCrypto | None = None
        self._platform_bins: list[int] = []
        self._packing = FLOAT
        self.result: BoostResult | None = None

    def _call(self, request: msg.Message, expect: type[_M]) -> _M:
        return msg.read(raise_for_error(self.channel.call(request.to_frame(self.job_id))), expect)

    def _platform_histogram(
        self, rows: np.ndarray, g: np.ndarray, h: np.ndarray, scanned: list[int], quant: Quantized | None
    ) -> Histograms:
        assert self._crypto is not None
        packing = self._packing
        if packing.quantized != (quant is not None):
            raise FederationError("quantized histograms need the job opened with use_quantized_grad")
        scales = (1.0, 1.0)
        if quant is not None:  # the integers go out encrypted; their sums come back times the scales
            g, h = quant.g.astype(np.float64), quant.h.astype(np.float64)
            scales = (quant.g_scale, quant.h_scale)
        full = use_full_layout(rows.size, g.size)
        bins = [self._platform_bins[j] for j in scanned]
        # A compact layout's groups run across features; a full layout's stay within one (cached masks).
        replicas = choose_replicas(rows.size, sum(bins), max(bins) if full else sum(bins), packing.digits)
        if full:
            gl, hl = np.zeros(g.size), np.zeros(h.size)
            gl[rows], hl[rows] = g[rows], h[rows]
        else:
            gl, hl = g[rows], h[rows]
        request = msg.Hist(scanned, full, replicas, rows, self._crypto.encrypt_gh(gl, hl, replicas, packing))
        started = time.perf_counter()
        reply = self._call(request, msg.Histogram)
        self.log.platform_seconds += time.perf_counter() - started
        self.log.histogram_requests += 1
        if (reply.features, reply.full, reply.replicas) != (scanned, full, replicas):
            raise FederationError("sb.histogram answers for other features or another layout than asked")
        seg, _ = layout(gl.size, replicas)
        # Keys: offset + bin, each scanned feature's offset the bin count of those scanned before it.
        offsets = np.concatenate([[0], np.cumsum(bins)]).astype(np.int64)
        for real, imag in reply.groups:
            if any(not -1 <= key < offsets[-1] for key in real + imag):
                raise FederationError("sb.histogram names a bin out of range")
        pairs = [(reply.sums[2 * k], reply.sums[2 * k + 1], group) for k, group in enumerate(reply.groups)]
        out: Histograms = [(np.zeros(n), np.zeros(n)) for n in bins]
        for sums in self._crypto.decrypt_sums(pairs, seg, packing):
            for key, gs, hs in sums:
                if key < 0:  # a bin holding no row of the leaf, whose sum is exactly zero
                    continue
                k = int(np.searchsorted(offsets, key, side="right")) - 1
                gk, hk = out[k]
                gk[key - offsets[k]], hk[key - offsets[k]] = gs * scales[0], hs * scales[1]
        return out

    def fit(
        self,
        x_bank: np.ndarray,
        y: np.ndarray,
        *,
        features: Sequence[str],
        platform_features: Sequence[str],
        train_rows: np.ndarray,
        valid_rows: np.ndarray | None = None,
        model_id: str | None = None,
    ) -> BankTreePart:
        """Train on ``train_rows``; with ``early_stopping_round`` > 0 the validation log-loss is measured on
        ``valid_rows`` (held out of training, routed through the platform's splits as they are made)."""
        started = time.perf_counter()
        p = self.params
        unknown = sorted(set(p.categorical_feature) - {*features, *platform_features})
        if unknown:
            raise FederationError(f"categorical_feature names no feature of this job: {unknown}")
        valid_rows = np.zeros(0, dtype=np.int64) if valid_rows is None else np.asarray(valid_rows, np.int64)
        ctx = new_secret_context(SECUREBOOST_COEFF_MOD_BITS, SECUREBOOST_SCALE_BITS)
        self._kit = SealKit(ctx)
        self._crypto = BankCrypto(self._kit, secret_context_bytes(ctx), self.processes)
        try:
            self._crypto.start_for(len(train_rows))
            part = self._fit(ctx, x_bank, y, features, platform_features, train_rows, valid_rows, model_id)
        finally:
            self._crypto.close()
            self.log.bank_processes = self._crypto.processes
            self.log.bank_process_cpu_seconds = self._crypto.process_cpu_seconds
        self.log.seconds = time.perf_counter() - started
        return part

    def _fit(
        self,
        ctx: Any,
        x_bank: np.ndarray,
        y: np.ndarray,
        features: Sequence[str],
        platform_features: Sequence[str],
        train_rows: np.ndarray,
        valid_rows: np.ndarray,
        model_id: str | None,
    ) -> BankTreePart:
        p = self.params
        request = msg.Open(p, list(platform_features), public_context_bytes(ctx), train_rows, valid_rows)
        ready = self._call(request, msg.Ready)
        self._platform_bins = ready.bins
        if p.use_quantized_grad:
            self._packing = packing_for(train_rows.size, p.num_grad_quant_bins)
        if ready.packing != self._packing:
            raise FederationError("the platform packs histogram sums otherwise than this job's parameters")
        platform_layouts = [
            BinLayout(*feature)
            for feature in zip(ready.bins, ready.missing, ready.most_freq_bin, ready.categorical, strict=True)
        ]
        x = np.asarray(x_bank, dtype=np.float64)
        xb = x[train_rows]
        yt = np.asarray(y, dtype=np.float64)[train_rows]
        bank = _plain_source(xb, x[valid_rows], features, p)
        source = _FederatedSource(self, bank, self._platform_bins)
        layouts = [fb.layout for fb in bank.feature_bins] + platform_layouts
        y_valid = np.asarray(y, dtype=np.float64)[valid_rows] if p.early_stopping_round > 0 else None
        if y_valid is not None and not y_valid.size:
            raise ValueError("early stopping needs validation rows")
        result = boost(source, yt, layouts, p, y_valid=y_valid, progress=self._progress)
        self.result = result
        names = [*features, *platform_features]
        part = _bank_part(result, names, len(features), p, model_id or self.job_id)
        nb = len(features)
        platform_importance = {
            j - nb: (part.importance_split[names[j]], part.importance_gain[names[j]])
            for j in range(nb, len(names))
            if names[j] in part.importance_split
        }
        self._call(msg.Finish(platform_importance), msg.Done)
        self.log.trees = len(part.trees)
        return part

    def platform_directions(self, rows: np.ndarray) -> list[np.ndarray]:
        reply = self._call(msg.Route(rows), msg.Directions)
        return [msg.unbits(b, rows.size) for b in reply.left]

    def joint_scores(self, part: BankTreePart, x_bank: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Raw joint scores of held-out ``rows``; the platform reveals its split directions for them."""
        directions = self.platform_directions(rows)
        return tree_scores(part, np.asarray(x_bank, dtype=np.float64)[rows], directions)


def _plain_source(
    x_train: np.ndarray, x_valid: np.ndarray, names: Sequence[str], p: SecureBoostParams
) -> PlainSource:
    binning = bin_columns(x_train, names, p)
    bins = np.stack([fb.bins(x_train[:, j]) for j, fb in enumerate(binning)], axis=1)
    valid = np.stack([fb.bins(x_valid[:, j]) for j, fb in enumerate(binning)], axis=1)
    return PlainSource(bins, binning, valid.reshape(x_valid.shape[0], len(binning)))


def _bank_part(
    result: BoostResult, names: Sequence[str], n_bank: int, p: SecureBoostParams, model_id: str
) -> BankTreePart:
    trees: list[list[TreeNode]] = []
    splits: dict[str, int] = {}
    gains: dict[str, float] = {}
    for grown in result.trees[: result.best_iteration]:
        nodes: list[TreeNode] = []
        for nid in range(len(grown.nodes)):
            entry = grown.nodes[nid]
            if entry[0] == "leaf":
                nodes.append(TreeNode(node_id=nid, leaf_value=float(entry[1])))  # type: ignore[arg-type]
                continue
            content, left, right = entry[1], entry[2], entry[3]
            assert isinstance(content, tuple) and isinstance(left, int) and isinstance(right, int)
            if content[0] == "bank":
                _, f, threshold, default_left, categories = content
                nodes.append(
                    TreeNode(
                        node_id=nid,
                        owner="bank",
                        feature=str(names[f]),
                        threshold=None if threshold is None else float(threshold),
                        default_left=bool(default_left),
                        left=left,
                        right=right,
                        categories=categories,
                    )
                )
            else:
                nodes.append(
                    TreeNode(node_id=nid, owner="platform", split_id=int(content[1]), left=left, right=right)
                )
        for s in grown.splits:
            name = str(names[s.feature])
            splits[name] = splits.get(name, 0) + 1
            gains[name] = gains.get(name, 0.0) + s.gain
        trees.append(nodes)
    return BankTreePart(
        model_id=model_id,
        base_score=result.base_score,
        learning_rate=p.learning_rate,
        trees=trees,
        bank_features=list(names[:n_bank]),
        importance_split=splits,
        importance_gain=gains,
    )


def fit_plain(
    x: np.ndarray,
    y: np.ndarray,
    features: Sequence[str],
    params: SecureBoostParams,
    *,
    x_valid: np.ndarray | None = None,
    y_valid: np.ndarray | None = None,
    model_id: str = "plain",
) -> BankTreePart:
    """The same learner on one party's features in the clear (the bank-only baseline): LightGBM's
    model for these parameters, without LightGBM."""
    x = np.asarray(x, dtype=np.float64)
    xv = np.zeros((0, x.shape[1])) if x_valid is None else np.asarray(x_valid, dtype=np.float64)
    source = _plain_source(x, xv, features, params)

    class _Tagged:
        def histograms(
            self,
            rows: np.ndarray,
            g: np.ndarray,
            h: np.ndarray,
            used: np.ndarray,
            quant: Quantized | None = None,
        ) -> Histograms:
            return source.histograms(rows, g, h, used, quant)

        def partition(
            self, split: SplitInfo, rows: np.ndarray, valid: np.ndarray
        ) -> tuple[np.ndarray, np.ndarray, object]:
            left, valid_left = source.masks(split, rows, valid)
            return left, valid_left, ("bank", *source.content(split))

    layouts = [fb.layout for fb in source.feature_bins]
    yv = (
        None if y_valid is None or params.early_stopping_round <= 0 else np.asarray(y_valid, dtype=np.float64)
    )
    result = boost(_Tagged(), np.asarray(y, dtype=np.float64), layouts, params, y_valid=yv)
    return _bank_part(result, list(features), len(features), params, model_id)


def tree_scores(part: BankTreePart, x: np.ndarray, platform_left: Sequence[np.ndarray] | None) -> np.ndarray:
    """Raw scores; ``platform_left[split_id]`` is the left-going mask of the rows at that platform split.

    With ``platform_left=None`` a platform split sends every row down both sides weighted by the
    training share (never used here); bank-only models have no platform split.
    """
    index = {f: j for j, f in enumerate(part.bank_features)}
    n = x.shape[0]
    out = np.full(n, part.base_score)
    for tree in part.trees:
        node_of = np.zeros(n, dtype=np.int64)
        for _ in range(len(tree)):
            moved = False
            for nid in np.unique(node_of):
                node = tree[nid]
                if node.leaf_value is not None:
                    continue
                sel = node_of == nid
                if node.owner == "bank":
                    assert node.feature is not None
                    go_left = node.goes_left(x[sel, index[node.feature]])
                else:
                    if platform_left is None or node.split_id is None:
                        raise FederationError("a platform split needs the platform's directions")
                    go_left = platform_left[node.split_id][sel]
                assert node.left is not None and node.right is not None
                node_of[sel] = np.where(go_left, node.left, node.right)
                moved = True
            if not moved:
                break
        out += part.learning_rate * np.array([tree[i].leaf_value or 0.0 for i in node_of])
    return out


class SecureBoost(TrainingProtocol):
    """LightGBM's trees, the platform's histograms under CKKS (this module)."""

    name = "secureboost"
    prefix = "sb"
    unit = "trees"
    allows_missing = True
    open_kind = msg.Open.KIND
    done_kind = msg.Done.KIND

    def rounds(self, params: SecureBoostParams) -> int:
        return params.num_iterations

    def bank_trainer(
        self,
        link: Link | Channel,
        *,
        job_id: str,
        params: SecureBoostParams,
        progress: Callable[[int, int], None] | None = None,
    ) -> BankSecureBoostTrainer:
        return BankSecureBoostTrainer(link, job_id=job_id, params=params, progress=progress)

    def platform_job(self, features: pd.DataFrame, job_id: str) -> PlatformSecureBoostJob:
        return PlatformSecureBoostJob(features, job_id=job_id)

    def bank_only_scores(
        self,
        params: SecureBoostParams,
        x: np.ndarray,
        y: np.ndarray,
        train: np.ndarray,
        test: np.ndarray,
        features: Sequence[str] | None = None,
    ) -> np.ndarray:
        names = list(features) if features is not None else [f"x{j}" for j in range(x.shape[1])]
        part = fit_plain(x[train], y[train], names, params)
        return tree_scores(part, x[test], None)
