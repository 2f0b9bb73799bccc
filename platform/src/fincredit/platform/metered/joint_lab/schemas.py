"""Request and response bodies of the joint-modelling lab (metered market services)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from fincredit.platform.core.schemas import INT64_MAX, Strict


class JointJobIn(Strict):
    purpose: str = Field(min_length=1, max_length=200, description="what the bank builds the model for")
    algorithm: Literal["logistic", "secureboost"]
    catalog_items: list[str] = Field(default_factory=list, max_length=50)
    market_datasets: list[str] = Field(default_factory=list, max_length=50)
    platform_features: list[str] = Field(min_length=1, max_length=100)


class OfferedFeatureOut(BaseModel):
    """One offered feature: its sources and the rule it is computed by (``aggregation = builtin``: an
    engineered feature of the platform's code, documented by its description)."""

    name: str
    title: str = Field(default="", description="the Chinese title banks read")
    description: str
    sources: list[str]
    aggregation: str
    field: str | None = None
    date_field: str | None = None
    end_field: str | None = None
    window_days: int | None = None
    where: dict[str, list[str]] = Field(default_factory=dict)
    map: dict[str, float] = Field(default_factory=dict)
    transform: str | None = None
    missing: str | float = "nan"
    since_version: int = 1


class OfferedFeaturesOut(BaseModel):
    version: int = Field(description="the feature views' version; it goes up with every change")
    digest: str = Field(description="SHA-256 of the definition file")
    features: list[OfferedFeatureOut]


class JointJobOut(BaseModel):
    id: str
    state: str
    status: str
    purpose: str
    algorithm: str
    catalog_items: list[str]
    market_datasets: list[str]
    platform_features: list[str]
    platform_size: int | None
    aligned: int | None
    consent_count: int | None
    consent_digest: str | None
    evaluation: dict[str, Any]
    mlflow_run_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    completed_at: dt.datetime | None
    frames_url: str = "/federation/v1/frames"


Share = Annotated[float, Field(ge=0, le=1)]
Points = Annotated[list[Share], Field(min_length=2, max_length=201)]


class RocIn(Strict):
    fpr: Points
    tpr: Points

    @model_validator(mode="after")
    def _same_length(self) -> RocIn:
        if len(self.fpr) != len(self.tpr):
            raise ValueError("fpr and tpr differ in length")
        return self


class KsIn(Strict):
    population_share: Points
    cum_bad: Points
    cum_good: Points

    @model_validator(mode="after")
    def _same_length(self) -> KsIn:
        if not len(self.population_share) == len(self.cum_bad) == len(self.cum_good):
            raise ValueError("population_share, cum_bad and cum_good differ in length")
        return self


class CurvesIn(Strict):
    """One model's held-out curves, thinned (``fincredit.federation.training.evaluation_curves``)."""

    roc: RocIn
    ks: KsIn


class EvaluationIn(Strict):
    """What the bank's SDK measured on its held-out rows (``JointFit.report``)."""

    algorithm: str
    rows_train: int = Field(ge=0, le=INT64_MAX)
    rows_test: int = Field(ge=0, le=INT64_MAX)
    auc_joint: float = Field(ge=0, le=1)
    ks_joint: float = Field(ge=0, le=1)
    auc_bank_only: float = Field(ge=0, le=1)
    ks_bank_only: float = Field(ge=0, le=1)
    auc_uplift: float
    bytes_sent: int = Field(default=0, ge=0, le=INT64_MAX)
    bytes_received: int = Field(default=0, ge=0, le=INT64_MAX)
    training_seconds: float = 0.0
    total_seconds: float = 0.0
    params: dict[str, Any] = Field(default_factory=dict)
    # {"joint": ..., "bank_only": ...}: the ROC curve and KS chart the bank's jobs page draws
    curves: dict[Literal["joint", "bank_only"], CurvesIn] = Field(default_factory=dict)


class DepositIn(Strict):
    """The bank's half of a logistic model, deposited for ``lr-deposited`` scoring (optional)."""

    model_id: str
    features: list[str]
    weights: list[float]
    intercept: float


class CompleteIn(Strict):
    evaluation: EvaluationIn
    deposit: DepositIn | None = None


class ApproveIn(Strict):
    """Model-risk sign-off of a registered version by a second person of the bank."""

    note: str = Field(
        min_length=1, max_length=2000, description="what was reviewed, e.g. the validation report"
    )


class AliasIn(Strict):
    alias: Literal["champion", "challenger"]


class ModelVersionOut(BaseModel):
    name: str = Field(description="the registered model: one per bank and purpose")
    version: int
    job_id: str
    run_id: str
    status: Literal["pending_approval", "approved"]
    trained_by: str
    approved_by: str | None
    approved_at: str | None
    approval_note: str | None
    aliases: list[str]
    metrics: dict[str, float]


class MonthIn(Strict):
    """One month of the scored population, as the bank's SDK measures it
    (``fincredit.federation.monitoring.monthly_stability``): aggregates only, no applicant or score."""

    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    scored: int = Field(ge=0, le=INT64_MAX)
    psi: float | None = Field(default=None, ge=0)
    score_mean: float | None = None
    score_p25: float | None = None
    score_p75: float | None = None
    outcomes_known: int | None = Field(default=None, ge=0, le=INT64_MAX)
    default_rate: float | None = Field(default=None, ge=0, le=1)


class MonitoringIn(Strict):
    months: list[MonthIn] = Field(min_length=1, max_length=120)
    training_default_rate: float | None = Field(default=None, ge=0, le=1)
