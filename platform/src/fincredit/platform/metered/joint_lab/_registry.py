"""The platform's model registry entry for a joint model (MLflow, local SQLite under var_dir/mlflow):
its half, the joint evaluation the bank reported (AUC/KS joint and bank-only, the uplift), parameters
and lineage (catalog items, market datasets and the contracts they are used under, the consents by count
and digest, and per platform feature its sources and rule from the versioned feature views)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from fincredit.consent import Purpose
from fincredit.federation.joint_model import PlatformLogisticPart, PlatformTreePart
from fincredit.platform.market import check_market_use
from fincredit.platform.metered.joint_lab._inputs import offered_views
from fincredit.platform.metered.joint_lab._lifecycle import register_version
from fincredit.platform.metered.joint_lab._models import part_to_json
from fincredit.platform.metered.joint_lab.tables import JointJob

__all__ = ["EXPERIMENT", "market_contracts", "register_platform_half"]

EXPERIMENT = "fincredit-joint-modelling-platform"
_METRICS = ("auc_joint", "ks_joint", "auc_bank_only", "ks_bank_only", "auc_uplift", "rows_train", "rows_test")


def market_contracts(session: Session, datasets: Sequence[str]) -> dict[str, dict[str, str]]:
    """The contract under which each market dataset of a job is used for joint modelling now (the job was
    refused at creation without one): its id, reference and vendor, for the model's lineage."""
    out: dict[str, dict[str, str]] = {}
    for dataset in datasets:
        contract = check_market_use(session, dataset, Purpose.JOINT_MODELLING).contract
        if contract is not None:
            out[dataset] = {"id": contract.id, "reference": contract.reference, "vendor": contract.vendor_id}
    return out


def register_platform_half(
    var_dir: Path,
    *,
    job: JointJob,
    part: PlatformLogisticPart | PlatformTreePart,
    evaluation: dict[str, Any],
    consent_ids: list[str],
    market_contracts: dict[str, dict[str, str]] | None = None,
) -> str:
    """Log one run (no MLflow flavor fits half a model: the half goes in as a JSON document), register it
    as a version of the bank's model for the job's purpose (pending approval), and return the run id."""
    from fincredit.models.tracking import Lineage, Tracking

    tracking = Tracking(var_dir / "mlflow")
    # Each platform feature's lineage: the versioned feature views it was defined by, its sources, rule.
    features = offered_views(var_dir).lineage(job.platform_features)
    features["market_contracts"] = market_contracts or {}
    metrics = {k: float(evaluation[k]) for k in _METRICS if isinstance(evaluation.get(k), int | float)}
    record = tracking.log_training_run(
        experiment=EXPERIMENT,
        model=None,
        params={
            "algorithm": job.algorithm,
            "platform_features": ",".join(job.platform_features),
            "aligned_rows": job.aligned or 0,
            "feature_views_version": features["feature_views_version"],
            "market_contracts": ",".join(sorted(c["reference"] for c in (market_contracts or {}).values())),
            **{f"bank.{k}": v for k, v in (evaluation.get("params") or {}).items()},
        },
        metrics=metrics,
        lineage=Lineage(
            catalog_items=job.catalog_items,
            market_datasets=job.market_datasets,
            consent_ids=consent_ids,
            notes=f"joint job {job.id} of {job.org_id}; consents aligned: {job.consent_count}",
        ),
        tags={
            "fincredit.job_id": job.id,
            "fincredit.party": "platform",
            "fincredit.bank": job.org_id,
            "algorithm": job.algorithm,
        },
        documents={
            "platform_part.json": part_to_json(part),
            "evaluation.json": evaluation,
            "feature_views.json": features,
        },
        run_name=f"{job.algorithm}-{job.id[-8:]}",
    )
    # The run becomes a registered model version, pending the bank's model-risk approval.
    register_version(var_dir, job=job, run_id=record.run_id, metrics=metrics)
    return record.run_id
