"""A joint model's life in MLflow's model registry: registered version, model-risk approval, aliases.

Every completed job becomes a **version** of the bank's registered model for that purpose
(``joint-{bank}-{purpose}``), pointing at the run that holds the platform's half and its lineage
(catalog items, market datasets, consents by count and digest, feature views). A version is created
``pending_approval``. A **second person of the bank** (any other account of the same institution; never
the account that trained it) approves it: model-risk sign-off, recorded on the version with who, when
and the note. Only an approved version may be scored with (:func:`ensure_scorable`) or carry the
``champion``/``challenger`` aliases, which the bank moves between approved versions.

The registry is the record; nothing of this lives in the service's database, so the MLflow UI shows
the same state the API does.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fincredit.federation.errors import ScoringModelError
from fincredit.platform.metered.joint_lab.errors import JointModelNotFound, SelfApproval, VersionNotApproved
from fincredit.platform.metered.joint_lab.tables import JointJob

__all__ = [
    "ALIASES",
    "ModelVersionInfo",
    "approve_version",
    "ensure_scorable",
    "register_version",
    "registered_name",
    "set_alias",
    "version_of",
    "versions_of_bank",
]

ALIASES = ("champion", "challenger")
PENDING, APPROVED = "pending_approval", "approved"
_approved: set[tuple[str, str]] = set()  # (var_dir, job id) known approved: scoring skips the lookup
_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class ModelVersionInfo:
    name: str
    version: int
    job_id: str
    run_id: str
    status: str
    trained_by: str
    approved_by: str | None
    approved_at: str | None
    approval_note: str | None
    aliases: list[str]
    metrics: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "job_id": self.job_id,
            "run_id": self.run_id,
            "status": self.status,
            "trained_by": self.trained_by,
            "approved_by": self.approved_by,
            "approved_at": self.approved_at,
            "approval_note": self.approval_note,
            "aliases": self.aliases,
            "metrics": self.metrics,
        }


def _tracking(var_dir: Path) -> Any:
    from fincredit.models.tracking import Tracking

    return Tracking(var_dir / "mlflow")


def registered_name(org_id: str, purpose: str) -> str:
    """One registered model per bank and purpose; versions are its jobs. Non-ASCII purposes (a Chinese
    product name) are named by a short digest of the text."""
    slug = re.sub(r"[^a-z0-9]+", "-", purpose.lower()).strip("-")[:40]
    if not slug:
        slug = hashlib.sha256(purpose.encode()).hexdigest()[:10]
    return f"joint-{org_id}-{slug}"


def register_version(var_dir: Path, *, job: JointJob, run_id: str, metrics: dict[str, float]) -> int:
    """Register the job's run as a new version, pending approval; returns the version number."""
    from mlflow.exceptions import MlflowException

    tracking = _tracking(var_dir)
    client = tracking.client
    name = registered_name(job.org_id, job.purpose)
    # It may exist already (an earlier job of this purpose, or another instance just made it).
    with contextlib.suppress(MlflowException):
        client.create_registered_model(
            name, tags={"fincredit.bank": job.org_id}, description=f"joint models for: {job.purpose}"
        )
    run = client.get_run(run_id)
    source = f"{run.info.artifact_uri}/platform_part.json"
    mv = client.create_model_version(
        name,
        source,
        run_id=run_id,
        tags={
            "fincredit.job_id": job.id,
            "fincredit.status": PENDING,
            "fincredit.trained_by": job.account_id,
            **{f"metric.{k}": f"{v:.6g}" for k, v in metrics.items()},
        },
        description=f"job {job.id}: {job.algorithm}",
    )
    return int(mv.version)


def _find(client: Any, job_id: str) -> Any:
    found = client.search_model_versions(f"tags.`fincredit.job_id` = '{job_id}'")
    if not found:
        raise JointModelNotFound(f"no registered model version for job {job_id}")
    return found[0]


def _info(client: Any, mv: Any) -> ModelVersionInfo:
    tags = dict(mv.tags or {})
    aliases = list(getattr(mv, "aliases", []) or [])
    return ModelVersionInfo(
        name=mv.name,
        version=int(mv.version),
        job_id=tags.get("fincredit.job_id", ""),
        run_id=mv.run_id,
        status=tags.get("fincredit.status", PENDING),
        trained_by=tags.get("fincredit.trained_by", ""),
        approved_by=tags.get("fincredit.approved_by"),
        approved_at=tags.get("fincredit.approved_at"),
        approval_note=tags.get("fincredit.approval_note"),
        aliases=sorted(aliases),
        metrics={k[len("metric.") :]: float(v) for k, v in tags.items() if k.startswith("metric.")},
    )


def version_of(var_dir: Path, job_id: str) -> ModelVersionInfo:
    client = _tracking(var_dir).client
    mv = _find(client, job_id)
    return _info(client, client.get_model_version(mv.name, mv.version))


def versions_of_bank(var_dir: Path, org_id: str) -> list[ModelVersionInfo]:
    client = _tracking(var_dir).client
    out: list[ModelVersionInfo] = []
    for rm in client.search_registered_models(f"tags.`fincredit.bank` = '{org_id}'"):
        for mv in client.search_model_versions(f"name = '{rm.name}'"):
            out.append(_info(client, client.get_model_version(mv.name, mv.version)))
    return sorted(out, key=lambda v: (v.name, v.version))


def approve_version(
    var_dir: Path, job: JointJob, *, account_id: str, note: str, now: dt.datetime
) -> ModelVersionInfo:
    """Model-risk sign-off by ``account_id``, who must not be the account that trained the model."""
    if account_id == job.account_id:
        raise SelfApproval(
            "the account that trained this model cannot approve it; a second person of the bank signs off"
        )
    client = _tracking(var_dir).client
    mv = _find(client, job.id)
    tags = dict(mv.tags or {})
    if tags.get("fincredit.status") == APPROVED:
        return _info(client, client.get_model_version(mv.name, mv.version))
    for key, value in (
        ("fincredit.status", APPROVED),
        ("fincredit.approved_by", account_id),
        ("fincredit.approved_at", now.isoformat(timespec="seconds")),
        ("fincredit.approval_note", note),
    ):
        client.set_model_version_tag(mv.name, mv.version, key, value)
    with _lock:
        _approved.add((str(var_dir), job.id))
    return _info(client, client.get_model_version(mv.name, mv.version))


def set_alias(var_dir: Path, job: JointJob, alias: str) -> ModelVersionInfo:
    """Point ``alias`` (champion or challenger) of the job's registered model at its version."""
    if alias not in ALIASES:
        from fincredit.platform.metered.joint_lab.errors import JointJobInvalid

        raise JointJobInvalid(f"alias must be one of {ALIASES}", field="alias")
    client = _tracking(var_dir).client
    mv = _find(client, job.id)
    if dict(mv.tags or {}).get("fincredit.status") != APPROVED:
        raise VersionNotApproved(f"version {mv.version} of {mv.name} is not approved; approve it first")
    client.set_registered_model_alias(mv.name, alias, mv.version)
    return _info(client, client.get_model_version(mv.name, mv.version))


def ensure_scorable(var_dir: Path, job_id: str) -> None:
    """Refuse encrypted scoring with a version no second person approved (an error frame, HTTP 409)."""
    key = (str(var_dir), job_id)
    if key in _approved:
        return
    try:
        info = version_of(var_dir, job_id)
    except JointModelNotFound:
        raise ScoringModelError(
            f"model {job_id!r} has no registered version", code="model_not_registered", status=409
        ) from None
    if info.status != APPROVED:
        raise ScoringModelError(
            f"version {info.version} of {info.name} is not approved for scoring: a second person of the "
            f"bank signs it off first (POST /api/v1/joint-lab/models/{job_id}/approve)",
            code="model_not_approved",
            status=409,
        )
    with _lock:
        _approved.add(key)
