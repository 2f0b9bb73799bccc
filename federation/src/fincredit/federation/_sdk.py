"""The bank risk team's SDK: a DataFrame in, the bank's half of a joint model and an evaluation out.

    fit = JointModel(connection).fit(df, id_column="uscc", label="default", features=[...],
                                     platform_features=[...], algorithm="secureboost")
    fit.bank_part, fit.report.auc_joint, fit.report.auc_uplift

Alignment seam: with ``align=True`` the SDK first runs the ECDH-PSI (:func:`fincredit.federation.align`)
on ``df[id_column]`` over the same connection and job id, and keeps the intersection in join order;
the platform party must then serve the features of *its* half of that alignment for the job (see
:class:`~fincredit.federation.PlatformTrainingParty`). With ``align=False`` (the default) ``df`` must
already be in join order: row ``i`` is join index ``i`` on both sides. Identifiers never leave the
bank in either case (PSI only sends blinded curve points).

The held-out split is drawn by the bank (``test_size``, ``seed``); both halves are evaluated on it:
the bank-only baseline (same algorithm, bank features only, trained locally in the clear) and the
joint model (for which the platform reveals, for the held-out rows only, its partial logit (LR) or its
split directions (SecureBoost), as scoring would).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sklearn.metrics import roc_auc_score, roc_curve

from fincredit.federation._inputs import check_training_frame
from fincredit.federation._protocols import training_protocol
from fincredit.federation._psi_protocol import Alignment
from fincredit.federation._runtime import Channel
from fincredit.federation._secureboost import SecureBoostParams
from fincredit.federation._training_protocol import TrainingProtocol
from fincredit.federation._vertical_lr import LogisticParams
from fincredit.federation.errors import InputError
from fincredit.federation.joint_model import BankLogisticPart, BankTreePart
from fincredit.federation.wire import Link

__all__ = ["EvaluationReport", "JointFit", "JointModel", "evaluation_curves", "ks_statistic"]

Algorithm = Literal["secureboost", "logistic"]


def ks_statistic(y: np.ndarray, scores: np.ndarray) -> float:
    fpr, tpr, _ = roc_curve(y, scores)
    return float(np.max(tpr - fpr))


CURVE_POINTS = 101


def _thin(values: np.ndarray, keep: np.ndarray) -> list[float]:
    return [round(float(v), 4) for v in values[keep]]


def evaluation_curves(y: np.ndarray, scores: np.ndarray, n: int = CURVE_POINTS) -> dict[str, Any]:
    """The ROC curve and the KS chart of held-out scores, thinned to about ``n`` points each, for the
    bank's joint-modelling page. Aggregates only: no score threshold, row or label leaves with them.

    ``roc``: false and true positive rates (bad = label 1); ``ks``: over the population ordered by
    score (lowest first), the cumulative shares of bads and goods at ``n`` evenly spaced quantiles."""
    y = np.asarray(y).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    fpr, tpr, _ = roc_curve(y, s)
    keep = np.unique(np.linspace(0, fpr.size - 1, min(n, fpr.size)).round().astype(np.int64))
    share = np.linspace(0.0, 1.0, n)
    cuts = np.quantile(s, share)
    bad, good = np.sort(s[y]), np.sort(s[~y])
    every = np.arange(n)
    return {
        "roc": {"fpr": _thin(fpr, keep), "tpr": _thin(tpr, keep)},
        "ks": {
            "population_share": _thin(share, every),
            "cum_bad": _thin(np.searchsorted(bad, cuts, side="right") / bad.size, every),
            "cum_good": _thin(np.searchsorted(good, cuts, side="right") / good.size, every),
        },
    }


@dataclass(slots=True)
class EvaluationReport:
    algorithm: str
    rows_train: int
    rows_test: int
    auc_joint: float
    ks_joint: float
    auc_bank_only: float
    ks_bank_only: float
    auc_uplift: float
    bytes_sent: int
    bytes_received: int
    training_seconds: float
    total_seconds: float
    # {"joint": evaluation_curves(...), "bank_only": evaluation_curves(...)}: ~100 points per curve
    curves: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class JointFit:
    """What a joint fit gives the bank, keyed by the bank's own identifiers.

    ``aligned_ids`` are the ``id_column`` values of the rows the model trained and was evaluated on,
    in join order (the PSI intersection when ``align=True``, else every row); ``aligned_rows`` their
    positions in the frame passed to ``fit``. ``scores`` and ``bank_only_scores`` are the held-out
    log-odds of the joint and the bank-only model, indexed by the bank's identifier, and ``labels``
    the held-out labels on the same index. ``test_rows``/``test_scores`` are the same held-out rows by
    join index, for code that works in join order."""

    job_id: str
    bank_part: BankLogisticPart | BankTreePart
    report: EvaluationReport
    test_rows: np.ndarray
    test_scores: np.ndarray
    params: dict[str, Any]
    id_column: str = "id"
    aligned_ids: list[str] = field(default_factory=list)
    aligned_rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    scores: pd.Series = field(default_factory=lambda: pd.Series(dtype=np.float64))
    bank_only_scores: pd.Series = field(default_factory=lambda: pd.Series(dtype=np.float64))
    labels: pd.Series = field(default_factory=lambda: pd.Series(dtype=np.int64))
    features: list[str] = field(default_factory=list)
    platform_features: list[str] = field(default_factory=list)

    @property
    def alignment(self) -> pd.DataFrame:
        """The alignment as the bank can use it: join index, row of the input frame, the bank's id."""
        return pd.DataFrame(
            {
                "join_index": np.arange(len(self.aligned_ids)),
                "row": self.aligned_rows,
                self.id_column: self.aligned_ids,
            }
        )

    def evaluation(self) -> dict[str, Any]:
        """The body the platform's ``complete`` takes: the report's aggregates and the parameters."""
        return {**self.report.to_dict(), "params": self.params}


def _counters(platform: Any) -> tuple[int, int] | None:
    for obj in (platform, getattr(platform, "link", None)):
        if obj is not None and hasattr(obj, "bytes_sent") and hasattr(obj, "bytes_received"):
            return int(obj.bytes_sent), int(obj.bytes_received)
    return None


class JointModel:
    """Train a joint model with the platform over ``platform`` (a Link, Channel or PlatformConnection)."""

    def __init__(
        self,
        platform: Link | Channel,
        *,
        logistic: LogisticParams | None = None,
        secureboost: SecureBoostParams | None = None,
        progress: bool = True,
        timeout: float = 600.0,
        seed: int = 0,
    ) -> None:
        self.platform = platform
        channel = getattr(platform, "channel", None)
        self.channel = channel if isinstance(channel, Channel) else None
        self.logistic = logistic or LogisticParams()
        self.secureboost = secureboost or SecureBoostParams()
        self.progress = progress
        self.timeout = timeout
        self.seed = seed

    def _link(self) -> Link | Channel:
        if self.channel is not None:
            return self.channel
        if isinstance(self.platform, Channel):
            return self.platform
        return Channel(self.platform, timeout=self.timeout, retries=0)

    def fit(
        self,
        df: pd.DataFrame,
        *,
        id_column: str,
        label: str,
        features: Sequence[str],
        platform_features: Sequence[str],
        algorithm: Algorithm = "secureboost",
        test_size: float = 0.2,
        job_id: str | None = None,
        align: bool = False,
        scopes: Sequence[str] = (),
        alignment: Alignment | None = None,
        on_stage: Callable[[str], None] | None = None,
    ) -> JointFit:
        """Train with the platform and evaluate on a held-out split the bank draws.

        ``align=True`` runs the PSI first; ``alignment`` (an earlier PSI result of the same job) is used
        as is instead. Either way the returned fit names the rows by the bank's own ``id_column``."""
        started = time.perf_counter()
        job_id = job_id or uuid.uuid4().hex
        check_training_frame(
            df, id_column=id_column, label=label, features=features, algorithm=algorithm, test_size=test_size
        )
        link = self._link()
        stage = on_stage or (lambda _msg: None)
        aligned_rows = np.arange(len(df), dtype=np.int64)
        if align and alignment is None:
            from fincredit.federation._psi_bank import align as psi_align

            alignment = psi_align(
                link, job_id, df[id_column].astype(str).tolist(), scopes=scopes, progress=self.progress
            )
        if alignment is not None:
            if alignment.own_size != len(df):
                raise InputError(
                    f"the alignment was made over {alignment.own_size} rows, the frame has {len(df)}: "
                    "pass the same frame that was aligned"
                )
            stage(f"aligned {alignment.size:,} of {len(df):,} rows with the platform's consenting subjects")
            aligned_rows = np.asarray(alignment.rows, dtype=np.int64)
            if aligned_rows.size == 0:
                raise InputError(
                    "none of the bank's rows is in the platform's consenting set: nothing to train on "
                    "(check the id column and that the applicants consented to joint modelling)"
                )
            df = df.iloc[aligned_rows]
        ids = df[id_column].astype(str).tolist()
        x = df[list(features)].to_numpy(dtype=np.float64)
        y = df[label].to_numpy().astype(np.int64)
        if set(np.unique(y)) - {0, 1}:
            raise ValueError(f"label {label!r} must be binary 0/1")
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(df))
        n_test = max(1, round(test_size * len(df)))
        test_rows, train_rows = np.sort(order[:n_test]), np.sort(order[n_test:])
        before = _counters(self.platform)
        stage(f"training {algorithm} on {train_rows.size:,} rows, {test_rows.size:,} held out")
        protocol = training_protocol(algorithm)
        params = self._params[protocol.name]
        with self._bar(protocol, params) as advance:
            trainer = protocol.bank_trainer(link, job_id=job_id, params=params, progress=advance)
            t0 = time.perf_counter()
            part = trainer.fit(
                x,
                y,
                features=features,
                platform_features=platform_features,
                train_rows=train_rows,
                model_id=job_id,
            )
            training_seconds = time.perf_counter() - t0
            scores = trainer.joint_scores(part, x, test_rows)
        after = _counters(self.platform)
        sent = received = 0
        if before is not None and after is not None:
            sent, received = after[0] - before[0], after[1] - before[1]
        baseline = protocol.bank_only_scores(params, x, y, train_rows, test_rows, features)
        y_test = y[test_rows]
        auc_joint = float(roc_auc_score(y_test, scores))
        auc_bank = float(roc_auc_score(y_test, baseline))
        report = EvaluationReport(
            algorithm=algorithm,
            rows_train=int(train_rows.size),
            rows_test=int(test_rows.size),
            auc_joint=auc_joint,
            ks_joint=ks_statistic(y_test, scores),
            auc_bank_only=auc_bank,
            ks_bank_only=ks_statistic(y_test, baseline),
            auc_uplift=auc_joint - auc_bank,
            bytes_sent=sent,
            bytes_received=received,
            training_seconds=training_seconds,
            total_seconds=time.perf_counter() - started,
            curves={
                "joint": evaluation_curves(y_test, scores),
                "bank_only": evaluation_curves(y_test, baseline),
            },
        )
        index = pd.Index([ids[i] for i in test_rows], name=id_column)
        return JointFit(
            job_id,
            part,
            report,
            test_rows,
            scores,
            asdict(params),
            id_column=id_column,
            aligned_ids=ids,
            aligned_rows=aligned_rows,
            scores=pd.Series(np.asarray(scores, dtype=np.float64), index=index, name="joint"),
            bank_only_scores=pd.Series(np.asarray(baseline, dtype=np.float64), index=index, name="bank_only"),
            labels=pd.Series(y_test, index=index, name=label),
            features=list(features),
            platform_features=list(platform_features),
        )

    @property
    def _params(self) -> dict[str, Any]:
        """Each protocol's parameters, by protocol name."""
        return {"logistic": self.logistic, "secureboost": self.secureboost}

    def _bar(self, protocol: TrainingProtocol, params: Any) -> Any:
        algorithm, total, unit = protocol.name, protocol.rounds(params), protocol.unit
        sdk = self

        class _Bar:
            def __enter__(self) -> Callable[[int, int], None] | None:
                if not sdk.progress:
                    return None
                self.progress = Progress(
                    TextColumn(f"joint {algorithm} ({unit})"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                )
                self.progress.start()
                task = self.progress.add_task(algorithm, total=total)
                return lambda done, _total: self.progress.update(task, completed=done)

            def __exit__(self, *exc: object) -> None:
                if sdk.progress:
                    self.progress.stop()

        return _Bar()
