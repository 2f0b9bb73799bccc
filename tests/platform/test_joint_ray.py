"""With Ray on, the platform service only coordinates: every PSI and training step of a job runs as a Ray
task (never in the service's threads), the job trains as it does in process, and a second service object
— another instance, sharing nothing in memory — continues the job the first one started."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import fincredit.federation._party_steps as steps
from fincredit.federation import JointModel, LogisticParams, PlatformConnection
from fincredit.federation.wire import Frame, decode, encode
from fincredit.platform.identity.principal import Principal
from fincredit.platform.metered.joint_lab import FederationService
from fincredit.platform.metered.joint_lab.seed import (
    BANK_FEATURES,
    PLATFORM_FEATURES,
    SCOPES,
    entitle,
    seed_joint_setting,
)
from fincredit.platform.testing.plugin import auth, new_institution

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray")

PRODUCTS = ("market.joint_modelling", "market.encrypted_scoring")


class _Alternating:
    """The frames endpoint of two service instances without HTTP, frames alternating between them."""

    def __init__(self, services: list[FederationService], principal: Principal) -> None:
        self.services, self.principal, self.calls = services, principal, 0

    def call(self, frame: Frame) -> Frame:
        service = self.services[self.calls % len(self.services)]
        self.calls += 1
        return decode(service.handle_bytes(encode(frame), self.principal))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_job_steps_run_as_ray_tasks_and_continue_on_another_instance(client, services, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    entitle(services, bank.org_id, PRODUCTS)
    setting = seed_joint_setting(services, bank.org_id, n=120, seed=4)
    job = client.post(
        "/api/v1/joint-lab/jobs",
        headers=auth(client, bank),
        json={
            "purpose": "SME scorecard",
            "algorithm": "logistic",
            "catalog_items": list(SCOPES),
            "platform_features": list(PLATFORM_FEATURES),
        },
    ).json()
    in_service: list[str] = []
    run_step = steps.run_step

    def watched(*args, **kwargs):  # type: ignore[no-untyped-def]
        in_service.append(threading.current_thread().name)
        return run_step(*args, **kwargs)

    monkeypatch.setattr(steps, "run_step", watched)  # a step run by the service would pass here
    instances = [FederationService(services, use_ray=True), FederationService(services, use_ray=True)]
    principal = Principal(bank.account_id, "institution", bank.org_id, "bank", bank.org_id)
    link = _Alternating(instances, principal)
    with PlatformConnection.over(link, timeout=600) as conn:
        fit = JointModel(conn, logistic=LogisticParams(iterations=4), progress=False).fit(
            setting.bank,
            id_column="uscc",
            label="default",
            features=list(BANK_FEATURES),
            platform_features=list(PLATFORM_FEATURES),
            algorithm="logistic",
            job_id=job["id"],
            align=True,
            scopes=list(SCOPES),
        )
    assert in_service == [] and link.calls > 10
    state = client.get(f"/api/v1/joint-lab/jobs/{job['id']}", headers=auth(client, bank)).json()
    assert state["state"] == "trained" and state["aligned"] == fit.report.rows_train + fit.report.rows_test
    assert np.isfinite(fit.report.auc_joint)
