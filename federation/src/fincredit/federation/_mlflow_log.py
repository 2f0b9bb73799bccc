"""Register the bank's half of a joint model in the bank's own MLflow (optional: ``federation[mlflow]``).

Only the bank's half, its parameters, the evaluation (AUC/KS joint and bank-only, the uplift) and the
lineage the caller provides (catalog items, market datasets, consents) are logged; the platform
registers its half on its side.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

from fincredit.federation._sdk import JointFit

__all__ = ["log_bank_model"]


def log_bank_model(
    fit: JointFit,
    *,
    lineage: dict[str, Any],
    experiment: str = "fincredit-joint-modelling",
    tracking_uri: str | None = None,
    artifact_location: str | None = None,
    run_name: str | None = None,
    registered_model: str | None = None,
) -> str:
    """Log one fit as an MLflow run and return its run id.

    ``artifact_location`` applies when the experiment is created here (MLflow's default is a
    directory under the current working directory). With ``registered_model``, the run's bank half also
    becomes a new version of that registered model in the bank's registry (tagged with the job id), the
    bank's counterpart of the version the platform registers for its half.
    """
    try:
        import mlflow
    except ImportError as exc:  # the SDK must work without the extra
        raise ImportError(
            "MLflow logging needs the extra: pip install 'fincredit-federation[mlflow]'"
        ) from exc
    if tracking_uri is not None:
        mlflow.set_tracking_uri(tracking_uri)
    if mlflow.get_experiment_by_name(experiment) is None:
        mlflow.create_experiment(experiment, artifact_location=artifact_location)
    mlflow.set_experiment(experiment)
    report = fit.report.to_dict()
    with mlflow.start_run(run_name=run_name or f"{fit.report.algorithm}-{fit.job_id[:8]}") as run:
        mlflow.set_tags(
            {"fincredit.job_id": fit.job_id, "fincredit.party": "bank", "algorithm": fit.report.algorithm}
        )
        mlflow.log_params({f"param.{k}": v for k, v in fit.params.items()})
        mlflow.log_metrics(
            {
                k: float(v)
                for k, v in report.items()
                if isinstance(v, int | float) and not isinstance(v, bool) and k != "algorithm"
            }
        )
        mlflow.log_dict(dataclasses.asdict(fit.bank_part), "bank_part.json")
        mlflow.log_dict(report, "evaluation.json")
        mlflow.log_dict(lineage, "lineage.json")
        run_id = str(run.info.run_id)
        artifacts = str(run.info.artifact_uri)
    if registered_model is not None:
        # The registry of the given tracking URI, not the process's default one (which may be another
        # party's: the platform's service sets its own in its process).
        registry = tracking_uri if tracking_uri is not None else mlflow.get_registry_uri()
        client = mlflow.MlflowClient(tracking_uri=mlflow.get_tracking_uri(), registry_uri=registry)
        _register(client, registered_model, run_id, artifacts, fit)
    return run_id


def _register(client: Any, name: str, run_id: str, artifacts: str, fit: JointFit) -> None:
    from mlflow.exceptions import MlflowException

    with contextlib.suppress(MlflowException):  # the bank's earlier jobs for this model made it
        client.create_registered_model(name, description="the bank's halves of its joint models")
    client.create_model_version(
        name,
        f"{artifacts}/bank_part.json",
        run_id=run_id,
        tags={"fincredit.job_id": fit.job_id, "algorithm": fit.report.algorithm},
        description=f"job {fit.job_id}: the bank's half",
    )
