"""Joint modelling lab — a METERED market router (G§13, G§14): a bank creates a joint-modelling job
(quota checked before any work; one ``market.joint_modelling`` unit metered in the transaction that
completes it), follows its state, and completes it with its evaluation, which registers the platform's
half in MLflow. Encrypted scoring (``market.encrypted_scoring``, one unit per scored applicant) runs
over the frames endpoint (``routers/federation_frames.py``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from fincredit.platform.core.db import utcnow
from fincredit.platform.core.deps import ServicesDep, require
from fincredit.platform.identity.principal import Principal
from fincredit.platform.metered.joint_lab import FederationService, create_job, owned_job, sweep_abandoned
from fincredit.platform.metered.joint_lab._inputs import offered_views, scopes_of
from fincredit.platform.metered.joint_lab._lifecycle import (
    ModelVersionInfo,
    approve_version,
    set_alias,
    version_of,
    versions_of_bank,
)
from fincredit.platform.metered.joint_lab.errors import JointJobState
from fincredit.platform.metered.joint_lab.schemas import (
    AliasIn,
    ApproveIn,
    CompleteIn,
    JointJobIn,
    JointJobOut,
    ModelVersionOut,
    MonitoringIn,
    OfferedFeatureOut,
    OfferedFeaturesOut,
)
from fincredit.platform.metered.joint_lab.tables import JointJob

router = APIRouter(prefix="/api/v1/joint-lab", tags=["metered services: joint modelling"])


def federation_of(request: Request) -> FederationService:
    """The process's one platform party (its jobs' secrets live in its memory)."""
    state = request.app.state
    service = getattr(state, "federation", None)
    if service is None:
        service = state.federation = FederationService(state.services)
    return service


def _out(job: JointJob) -> JointJobOut:
    return JointJobOut.model_validate(job, from_attributes=True)


@router.get("/features")
def offered_features(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("joint_lab", "read"))],
    scope: Annotated[list[str] | None, Query(description="only features computed from these scopes")] = None,
) -> OfferedFeaturesOut:
    """The platform features a job may request, from the operator's versioned feature views: each with
    its sources (the consent scopes a job needs for it) and the rule it is computed by. With ``scope``,
    only those a consent to these scopes covers."""
    views = offered_views(services.settings.var_dir)
    chosen = views.covered_by(scope) if scope else list(views.features)
    return OfferedFeaturesOut(
        version=views.version,
        digest=views.digest,
        features=[OfferedFeatureOut(**v.to_dict()) for v in chosen],
    )


@router.post("/jobs", status_code=201)
def create(
    body: JointJobIn,
    services: ServicesDep,
    request: Request,
    principal: Annotated[Principal, Depends(require("joint_lab", "create"))],
) -> JointJobOut:
    federation = federation_of(request)
    catalog_items, market_datasets = body.catalog_items, body.market_datasets
    if not catalog_items and not market_datasets:
        # No scopes named: the job asks for exactly the sources of the features it requests.
        catalog_items, market_datasets = scopes_of(body.platform_features)
    with services.tx() as session:
        sweep_abandoned(session, federation.job_timeout)
        job = create_job(
            session,
            principal,
            purpose=body.purpose,
            algorithm=body.algorithm,
            catalog_items=catalog_items,
            market_datasets=market_datasets,
            platform_features=body.platform_features,
        )
        return _out(job)


@router.get("/jobs")
def list_jobs(
    services: ServicesDep,
    request: Request,
    principal: Annotated[Principal, Depends(require("joint_lab", "read"))],
) -> list[JointJobOut]:
    federation_of(request).sweep()
    with services.read() as session:
        rows = session.scalars(
            select(JointJob).where(JointJob.org_id == principal.org_id).order_by(JointJob.created_at)
        )
        return [_out(j) for j in rows]


@router.get("/jobs/{job_id}")
def get_job(
    job_id: str,
    services: ServicesDep,
    request: Request,
    principal: Annotated[Principal, Depends(require("joint_lab", "read"))],
) -> JointJobOut:
    federation_of(request).sweep()
    with services.read() as session:
        return _out(owned_job(session, job_id, principal.org_id))


@router.post("/jobs/{job_id}/complete")
async def complete(
    job_id: str,
    body: CompleteIn,
    request: Request,
    principal: Annotated[Principal, Depends(require("joint_lab", "create"))],
) -> JointJobOut:
    federation = federation_of(request)
    evaluation = body.evaluation.model_dump()
    deposit = body.deposit.model_dump() if body.deposit is not None else None
    job = await run_in_threadpool(
        federation.complete, job_id, principal, evaluation=evaluation, deposit=deposit
    )
    return _out(job)


# -- the model lifecycle (MLflow registry): versions, approval, aliases ------------------------------


def _version_out(info: ModelVersionInfo) -> ModelVersionOut:
    return ModelVersionOut.model_validate(info.to_dict())


@router.get("/models")
def list_models(
    services: ServicesDep, principal: Annotated[Principal, Depends(require("joint_lab", "read"))]
) -> list[ModelVersionOut]:
    """Every registered version of the bank's joint models, with approval state and aliases."""
    return [_version_out(v) for v in versions_of_bank(services.settings.var_dir, principal.org_id or "")]


@router.get("/models/{job_id}")
def get_model(
    job_id: str,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("joint_lab", "read"))],
) -> ModelVersionOut:
    with services.read() as session:
        owned_job(session, job_id, principal.org_id)
    return _version_out(version_of(services.settings.var_dir, job_id))


@router.post("/models/{job_id}/approve")
async def approve_model(
    job_id: str,
    body: ApproveIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("joint_lab", "approve"))],
) -> ModelVersionOut:
    """Model-risk sign-off: a second account of the bank (never the one that trained the model) approves
    the version; only then may encrypted scoring use it."""
    with services.read() as session:
        job = owned_job(session, job_id, principal.org_id)
        session.expunge(job)
    if job.state != "completed":
        raise JointJobState(
            f"job {job.id} is {job.state}; only a completed job's model is approved", state=job.state
        )
    info = await run_in_threadpool(
        approve_version,
        services.settings.var_dir,
        job,
        account_id=principal.account_id,
        note=body.note,
        now=utcnow(),
    )
    return _version_out(info)


@router.post("/models/{job_id}/aliases")
async def alias_model(
    job_id: str,
    body: AliasIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("joint_lab", "approve"))],
) -> ModelVersionOut:
    """Point champion or challenger at this (approved) version of its registered model."""
    with services.read() as session:
        job = owned_job(session, job_id, principal.org_id)
        session.expunge(job)
    return _version_out(await run_in_threadpool(set_alias, services.settings.var_dir, job, body.alias))


@router.post("/jobs/{job_id}/monitoring")
def report_monitoring(
    job_id: str,
    body: MonitoringIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("joint_lab", "create"))],
) -> JointJobOut:
    """The bank reports the stability of its scored applicants per month (PSI against the training
    scores, score quartiles, default rates once outcomes are known). The platform never sees a score
    (scoring is encrypted), so these aggregates come from the bank; its job page shows them beside the
    training evaluation. A month reported again replaces the earlier figures."""
    with services.tx() as session:
        job = owned_job(session, job_id, principal.org_id, lock=True)
        if job.state != "completed":
            raise JointJobState(
                f"job {job.id} is {job.state}; monitoring follows a completed job", state=job.state
            )
        evaluation = dict(job.evaluation or {})
        months = {m["month"]: m for m in evaluation.get("monitoring", {}).get("months", [])}
        months.update({m.month: m.model_dump() for m in body.months})
        monitoring: dict[str, Any] = {"months": [months[k] for k in sorted(months)]}
        if body.training_default_rate is not None:
            monitoring["training_default_rate"] = body.training_default_rate
        elif "training_default_rate" in evaluation.get("monitoring", {}):
            monitoring["training_default_rate"] = evaluation["monitoring"]["training_default_rate"]
        evaluation["monitoring"] = monitoring
        job.evaluation = evaluation  # a new dict, so the JSON column is written
        session.flush()
        return _out(job)
