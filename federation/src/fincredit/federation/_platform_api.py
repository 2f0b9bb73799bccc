"""The bank's client of the platform's joint-modelling lab (REST), and the end-to-end ``train``.

    lab = JointLab("https://credit.example", token)
    lab.features()                                  # what the platform offers, with its sources
    trained = lab.train(df, id_column="uscc", label="default", features=[...],
                        platform_features=[...], algorithm="secureboost")
    trained.fit.scores                              # held-out log-odds keyed by the bank's ids
    trained.job.mlflow_run_id, trained.job.state    # the platform's record of the job ("completed")

``train`` creates the job on the platform (quota checked there before any work), aligns by PSI, trains
over the frames endpoint, completes the job with the bank's evaluation, and returns both. Errors from
the platform are RFC 9457 problem documents; :class:`PlatformApiError` carries their type, status and
detail, so a caller sees "joint-job-invalid: unknown platform features ['x']" rather than an HTTP trace.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import pandas as pd

from fincredit.federation._http_link import PlatformConnection
from fincredit.federation._inputs import check_training_frame
from fincredit.federation._iv import platform_information_values
from fincredit.federation._protocols import training_protocol
from fincredit.federation._psi_protocol import Alignment
from fincredit.federation._scoring_lr import deposit_bank_half
from fincredit.federation._sdk import Algorithm, JointFit, JointModel
from fincredit.federation._secureboost import SecureBoostParams
from fincredit.federation._vertical_lr import LogisticParams
from fincredit.federation.errors import FederationError, InputError
from fincredit.federation.joint_model import BankLogisticPart

__all__ = ["JOBS_PATH", "JointJobInfo", "JointLab", "OfferedFeature", "PlatformApiError", "TrainedJob"]

JOBS_PATH = "/api/v1/joint-lab/jobs"
FEATURES_PATH = "/api/v1/joint-lab/features"
_DEFAULT_PURPOSE = "joint credit-risk model"


class PlatformApiError(FederationError):
    """The platform refused a REST call: ``status``, the problem ``slug`` (its type) and ``detail``."""

    def __init__(self, status: int, slug: str, detail: str) -> None:
        super().__init__(f"{slug} (HTTP {status}): {detail}")
        self.status = status
        self.slug = slug
        self.detail = detail


@dataclass(frozen=True, slots=True)
class JointJobInfo:
    """The platform's record of a joint-modelling job, as ``GET /api/v1/joint-lab/jobs/{id}`` shows it."""

    id: str
    state: str
    status: str
    algorithm: str
    purpose: str
    catalog_items: list[str]
    market_datasets: list[str]
    platform_features: list[str]
    aligned: int | None
    consent_count: int | None
    mlflow_run_id: str | None
    evaluation: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)

    @property
    def scopes(self) -> list[str]:
        """The consent scopes the job's PSI must name: its catalog items and market datasets."""
        return [*self.catalog_items, *self.market_datasets]

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> JointJobInfo:
        return cls(
            id=str(body["id"]),
            state=str(body["state"]),
            status=str(body.get("status", "")),
            algorithm=str(body["algorithm"]),
            purpose=str(body.get("purpose", "")),
            catalog_items=[str(x) for x in body.get("catalog_items", [])],
            market_datasets=[str(x) for x in body.get("market_datasets", [])],
            platform_features=[str(x) for x in body.get("platform_features", [])],
            aligned=body.get("aligned"),
            consent_count=body.get("consent_count"),
            mlflow_run_id=body.get("mlflow_run_id"),
            evaluation=dict(body.get("evaluation") or {}),
            raw=body,
        )


@dataclass(frozen=True, slots=True)
class OfferedFeature:
    """One feature the platform offers to joint models: name, description and the scopes it needs."""

    name: str
    description: str
    sources: list[str]
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class TrainedJob:
    job: JointJobInfo
    fit: JointFit


Stage = Callable[[str], None]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


class JointLab:
    """REST client of the platform's joint-modelling lab for one bank (its bearer token)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 300.0,
        verify: bool | str | ssl.SSLContext = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url:
            raise InputError("the platform's base URL is required, e.g. https://credit.example")
        if not token:
            raise InputError("the bank's API token is required (the CLI reads it from $FINCREDIT_TOKEN)")
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self.verify = verify
        self._transport = transport
        self._client = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
            verify=verify,
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> JointLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- REST ----------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise PlatformApiError(
                0, "transport", f"cannot reach the platform at {self.base_url}: {exc}"
            ) from None
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {}
            if not isinstance(problem, dict):
                problem = {}
            slug = str(problem.get("type") or "").rsplit("/", 1)[-1] or f"http-{response.status_code}"
            detail = str(problem.get("detail") or problem.get("title") or response.text[:200])
            raise PlatformApiError(response.status_code, slug, detail)
        return response.json()

    def features(self) -> list[OfferedFeature]:
        """The features the platform offers to joint models, each with the scopes it is computed from."""
        body = self._call("GET", FEATURES_PATH)
        items = body.get("features", []) if isinstance(body, dict) else body
        return [
            OfferedFeature(
                name=str(i["name"]),
                description=str(i.get("description", "")),
                sources=[str(s) for s in i.get("sources", [])],
                raw=dict(i),
            )
            for i in items
        ]

    def create_job(
        self,
        *,
        algorithm: str,
        platform_features: Sequence[str],
        purpose: str = _DEFAULT_PURPOSE,
        catalog_items: Sequence[str] = (),
        market_datasets: Sequence[str] = (),
    ) -> JointJobInfo:
        """Open a job. With no catalog items or market datasets named, the platform takes the sources of
        the requested features as the job's scopes."""
        training_protocol(algorithm)  # refuses an algorithm no protocol implements
        if not platform_features:
            raise InputError("name at least one platform feature (JointLab.features() lists them)")
        body = {
            "purpose": purpose,
            "algorithm": algorithm,
            "catalog_items": list(catalog_items),
            "market_datasets": list(market_datasets),
            "platform_features": list(platform_features),
        }
        return JointJobInfo.from_json(self._call("POST", JOBS_PATH, body))

    def job(self, job_id: str) -> JointJobInfo:
        return JointJobInfo.from_json(self._call("GET", f"{JOBS_PATH}/{job_id}"))

    def jobs(self) -> list[JointJobInfo]:
        return [JointJobInfo.from_json(j) for j in self._call("GET", JOBS_PATH)]

    def complete(
        self, job_id: str, fit: JointFit, *, deposit: BankLogisticPart | None = None
    ) -> JointJobInfo:
        """Report the bank's evaluation: the platform registers its half and meters the job."""
        body: dict[str, Any] = {"evaluation": fit.evaluation()}
        if deposit is not None:
            body["deposit"] = {
                "model_id": deposit.model_id,
                "features": list(deposit.features),
                "weights": list(deposit.weights),
                "intercept": deposit.intercept,
            }
        return JointJobInfo.from_json(self._call("POST", f"{JOBS_PATH}/{job_id}/complete", body))

    # -- before training: alignment and the platform features' information value ---------------------

    def align(self, job_id: str, ids: Sequence[str], *, progress: bool = False) -> Alignment:
        """PSI of a created job (its scopes) with the platform's consenting subjects."""
        job = self.job(job_id)
        with self.connection() as conn:
            return conn.align(job_id, [str(i) for i in ids], scopes=job.scopes, progress=progress)

    def platform_information_values(
        self, job_id: str, df: pd.DataFrame, *, label: str, alignment: Alignment, bins: int = 10
    ) -> pd.DataFrame:
        """IV of each of the job's platform features against the bank's labels, under encryption: the
        labels travel as CKKS ciphertexts, the platform answers with shuffled per-bin encrypted counts
        (see :mod:`fincredit.federation._iv` for exactly what each side learns)."""
        if label not in df.columns:
            raise InputError(f"no label column {label!r}")
        y = pd.to_numeric(df[label], errors="coerce").to_numpy()[np.asarray(alignment.rows)]
        if np.isnan(y).any() or not set(np.unique(y)) <= {0.0, 1.0}:
            raise InputError(f"label {label!r} must be 0/1 on every aligned row")
        with self.connection() as conn:
            return platform_information_values(conn, job_id, y, bins=bins)

    # -- the model lifecycle ------------------------------------------------------------------------

    def models(self) -> list[dict[str, Any]]:
        """Every registered version of this bank's joint models: status, approval, aliases, metrics."""
        return list(self._call("GET", "/api/v1/joint-lab/models"))

    def model(self, job_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/api/v1/joint-lab/models/{job_id}"))

    def approve(self, job_id: str, note: str) -> dict[str, Any]:
        """Model-risk sign-off of the job's model version. Must be another account of the bank than the
        one that trained it (the platform refuses self-approval); encrypted scoring needs it."""
        return dict(self._call("POST", f"/api/v1/joint-lab/models/{job_id}/approve", {"note": note}))

    def set_alias(self, job_id: str, alias: str) -> dict[str, Any]:
        """Point ``champion`` or ``challenger`` at the job's (approved) version."""
        return dict(self._call("POST", f"/api/v1/joint-lab/models/{job_id}/aliases", {"alias": alias}))

    def report_monitoring(
        self, job_id: str, stability: pd.DataFrame, *, training_default_rate: float | None = None
    ) -> JointJobInfo:
        """Send the monthly stability of the scored population (``monitoring.monthly_stability``'s frame:
        aggregates only) to the job's page; a month sent again replaces the earlier figures."""
        keys = (
            "month",
            "scored",
            "psi",
            "score_mean",
            "score_p25",
            "score_p75",
            "outcomes_known",
            "default_rate",
        )
        months = []
        for row in stability.to_dict(orient="records"):
            # numpy scalars -> Python numbers (the JSON body takes no numpy types)
            month = {k: getattr(row[k], "item", lambda v=row[k]: v)() for k in keys if k in row}
            month = {k: v for k, v in month.items() if not _missing(v)}
            month["month"] = str(row["month"])
            months.append(month)
        body: dict[str, Any] = {"months": months}
        if training_default_rate is not None:
            body["training_default_rate"] = float(training_default_rate)
        return JointJobInfo.from_json(self._call("POST", f"{JOBS_PATH}/{job_id}/monitoring", body))

    def connection(self, *, timeout: float | None = None) -> PlatformConnection:
        """The frames connection (PSI, training, encrypted scoring) with this client's credentials."""
        return PlatformConnection(
            self.base_url,
            self._token,
            timeout=timeout or self.timeout,
            verify=self.verify,
            transport=self._transport,
        )

    # -- end to end ------------------------------------------------------------------------------------

    def train(
        self,
        df: pd.DataFrame,
        *,
        id_column: str,
        label: str,
        features: Sequence[str],
        platform_features: Sequence[str],
        algorithm: Algorithm = "secureboost",
        purpose: str = _DEFAULT_PURPOSE,
        catalog_items: Sequence[str] = (),
        market_datasets: Sequence[str] = (),
        logistic: LogisticParams | None = None,
        secureboost: SecureBoostParams | None = None,
        test_size: float = 0.2,
        deposit: bool = False,
        job_id: str | None = None,
        alignment: Alignment | None = None,
        progress: bool = True,
        on_stage: Stage | None = None,
        seed: int = 0,
    ) -> TrainedJob:
        """Create (or, with ``job_id``, continue) a job and run it to completion.

        The bank's frame is checked before the platform is asked for anything, so a wrong column costs
        no job. ``alignment`` (a saved PSI result of the same job) skips the PSI. ``deposit=True`` hands
        the bank's logistic weights to the platform (``lr-deposited`` scoring) and leaves the returned
        part without them; the default deposits nothing and scores with ``lr-partial``."""
        stage = on_stage or (lambda _msg: None)
        check_training_frame(
            df, id_column=id_column, label=label, features=features, algorithm=algorithm, test_size=test_size
        )
        if deposit and algorithm != "logistic":
            raise InputError("only logistic models can deposit the bank's weights")
        if job_id is None:
            job = self.create_job(
                algorithm=algorithm,
                platform_features=platform_features,
                purpose=purpose,
                catalog_items=catalog_items,
                market_datasets=market_datasets,
            )
            stage(f"job {job.id} created on the platform (scopes {', '.join(job.scopes)})")
        else:
            job = self.job(job_id)
            if job.algorithm != algorithm:
                raise InputError(f"job {job.id} trains {job.algorithm}, not {algorithm}")
            if list(job.platform_features) != list(platform_features):
                platform_features = job.platform_features
        with self.connection() as conn:
            model = JointModel(conn, logistic=logistic, secureboost=secureboost, progress=progress, seed=seed)
            stage("aligning by private set intersection" if alignment is None else "reusing the alignment")
            fit = model.fit(
                df,
                id_column=id_column,
                label=label,
                features=features,
                platform_features=platform_features,
                algorithm=algorithm,
                test_size=test_size,
                job_id=job.id,
                align=alignment is None,
                alignment=alignment,
                scopes=job.scopes,
                on_stage=stage,
            )
        deposited: BankLogisticPart | None = None
        if deposit:
            assert isinstance(fit.bank_part, BankLogisticPart)
            deposited, fit.bank_part = deposit_bank_half(fit.bank_part)
        stage("completing the job: the platform registers its half")
        done = self.complete(job.id, fit, deposit=deposited)
        return TrainedJob(done, fit)
