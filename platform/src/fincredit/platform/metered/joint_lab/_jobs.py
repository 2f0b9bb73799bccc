"""Joint-modelling jobs in the database: creation (quota before work), lookups restricted to the
owning bank, state changes, and the sweep that fails abandoned jobs so none ever hangs."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fincredit.consent import Purpose
from fincredit.federation.training import PROTOCOLS
from fincredit.platform.core.db import utcnow
from fincredit.platform.identity.principal import Principal
from fincredit.platform.market import check_market_use
from fincredit.platform.metered.billing import ensure_allowed
from fincredit.platform.metered.joint_lab._inputs import feature_sources
from fincredit.platform.metered.joint_lab.errors import (
    JointJobForbidden,
    JointJobInvalid,
    JointJobNotFound,
    JointJobState,
)
from fincredit.platform.metered.joint_lab.tables import JointJob

__all__ = [
    "ACTIVE_STATES",
    "ALGORITHMS",
    "JOINT_PRODUCT",
    "SCORING_PRODUCT",
    "create_job",
    "fail_job",
    "owned_job",
    "set_state",
    "sweep_abandoned",
]

JOINT_PRODUCT = "market.joint_modelling"
SCORING_PRODUCT = "market.encrypted_scoring"
ALGORITHMS = tuple(PROTOCOLS)
ACTIVE_STATES = ("created", "aligning", "aligned", "training", "trained")
TERMINAL_STATES = ("completed", "failed")


def create_job(
    session: Session,
    principal: Principal,
    *,
    purpose: str,
    algorithm: str,
    catalog_items: Sequence[str],
    market_datasets: Sequence[str],
    platform_features: Sequence[str],
) -> JointJob:
    """Quota and entitlement are checked before anything else (a refused bank costs no work)."""
    org_id = principal.org_id
    if org_id is None:
        raise JointJobInvalid("joint modelling is for institutions")
    ensure_allowed(session, org_id, JOINT_PRODUCT, 1)
    if algorithm not in ALGORITHMS:
        raise JointJobInvalid(f"algorithm must be one of {ALGORITHMS}", field="algorithm")
    if not catalog_items and not market_datasets:
        raise JointJobInvalid("name at least one catalog item or market dataset", field="catalog_items")
    if not platform_features:
        raise JointJobInvalid("name at least one platform feature", field="platform_features")
    feature_sources(platform_features, catalog_items, market_datasets)
    # A dataset whose contract does not allow joint modelling would be silently empty at training time:
    # refuse the job now, with the contract's reason.
    for dataset in sorted(set(market_datasets)):
        check_market_use(session, dataset, Purpose.JOINT_MODELLING).raise_if_refused()
    now = utcnow()
    job = JointJob(
        id=f"jm-{uuid.uuid4().hex}",
        org_id=org_id,
        account_id=principal.account_id,
        purpose=purpose,
        algorithm=algorithm,
        catalog_items=sorted(set(catalog_items)),
        market_datasets=sorted(set(market_datasets)),
        platform_features=list(dict.fromkeys(platform_features)),
        state="created",
        status="waiting for the bank's alignment (psi.start)",
        fill_values={},
        evaluation={},
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    session.flush()
    return job


def owned_job(session: Session, job_id: str, org_id: str | None, *, lock: bool = False) -> JointJob:
    """The job, if it is this institution's; another bank's job is a 403, never its details."""
    q = select(JointJob).where(JointJob.id == job_id)
    if lock:
        q = q.with_for_update()
    job = session.scalar(q)
    if job is None:
        raise JointJobNotFound(f"no joint-modelling job {job_id!r}")
    if job.org_id != org_id:
        raise JointJobForbidden(f"job {job_id!r} belongs to another institution")
    return job


def set_state(job: JointJob, state: str, status: str, *, allowed_from: Sequence[str]) -> None:
    if job.state not in allowed_from:
        raise JointJobState(
            f"job {job.id} is {job.state}: {job.status}"
            if job.state == "failed"
            else f"job {job.id} is {job.state}; {state} needs one of {list(allowed_from)}",
            state=job.state,
        )
    job.state, job.status, job.updated_at = state, status, utcnow()


def fail_job(session: Session, job_id: str, reason: str) -> None:
    session.execute(
        update(JointJob)
        .where(JointJob.id == job_id, JointJob.state.in_(ACTIVE_STATES))
        .values(state="failed", status=reason, updated_at=utcnow())
    )


def sweep_abandoned(session: Session, timeout: float, now: dt.datetime | None = None) -> int:
    """Jobs without progress for ``timeout`` seconds end FAILED with the reason (a crashed or
    abandoned party never leaves a job hanging). Returns how many were failed."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=timeout)
    result = session.execute(
        update(JointJob)
        .where(JointJob.state.in_(ACTIVE_STATES), JointJob.updated_at < cutoff)
        .values(
            state="failed",
            status=f"abandoned: no progress for {timeout:g} s (a party stopped or crashed); start a new job",
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
