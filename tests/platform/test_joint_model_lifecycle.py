"""A joint model's lifecycle in MLflow's registry: each completed job is a version of the bank's model
for its purpose, with its lineage, pending approval; a second person of the bank signs it off (never the
account that trained it); only approved versions carry champion/challenger or score; another bank sees
none of it."""

from __future__ import annotations

import pytest

from fincredit.federation import JointModel, LogisticParams, PlatformConnection
from fincredit.models.tracking import Tracking
from fincredit.platform.identity.principal import Principal
from fincredit.platform.metered.joint_lab.router import federation_of
from fincredit.platform.metered.joint_lab.seed import (
    BANK_FEATURES,
    PLATFORM_FEATURES,
    SCOPES,
    entitle,
    model_risk_officer,
    seed_joint_setting,
)
from fincredit.platform.testing.plugin import auth, new_institution, obtain_token

from .test_joint_jobs import _App, _Link

pytestmark = pytest.mark.slow
PRODUCTS = ("market.joint_modelling", "market.encrypted_scoring")


def _trained_job(client, app, bank, headers, setting) -> str:  # type: ignore[no-untyped-def]
    job = client.post(
        "/api/v1/joint-lab/jobs",
        headers=headers,
        json={
            "purpose": "SME working capital",
            "algorithm": "logistic",
            "platform_features": list(PLATFORM_FEATURES),
        },
    ).json()
    principal = Principal(bank.account_id, "institution", bank.org_id, "bank", bank.org_id)
    conn = PlatformConnection.over(_Link(federation_of(_App(app)), principal), timeout=120)
    fit = JointModel(conn, logistic=LogisticParams(iterations=3), progress=False).fit(
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
    r = client.post(
        f"/api/v1/joint-lab/jobs/{job['id']}/complete", headers=headers, json={"evaluation": fit.evaluation()}
    )
    assert r.status_code == 200, r.text
    return str(job["id"])


def test_versions_need_a_second_persons_approval_before_aliases(client, services, app) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    entitle(services, bank.org_id, PRODUCTS)
    setting = seed_joint_setting(services, bank.org_id, n=80, unknown=0, seed=None)
    trainer = auth(client, bank)
    officer = {"Authorization": f"Bearer {obtain_token(client, model_risk_officer(services, bank.org_id))}"}
    first = _trained_job(client, app, bank, trainer, setting)
    second = _trained_job(client, app, bank, trainer, setting)

    versions = client.get("/api/v1/joint-lab/models", headers=trainer).json()
    assert [(v["job_id"], v["version"], v["status"]) for v in versions] == [
        (first, 1, "pending_approval"),
        (second, 2, "pending_approval"),
    ]
    assert versions[0]["name"] == f"joint-{bank.org_id}-sme-working-capital"
    assert versions[0]["trained_by"] == bank.account_id and "auc_joint" in versions[0]["metrics"]
    # The version points at the run holding the platform's half and the lineage of its features.
    tracking = Tracking(services.settings.var_dir / "mlflow")
    lineage = tracking.document(versions[0]["run_id"], "feature_views.json")
    assert set(lineage["features"]) == set(PLATFORM_FEATURES)

    # Four eyes: the account that trained the model cannot approve it; an alias needs an approval.
    own = client.post(f"/api/v1/joint-lab/models/{first}/approve", headers=trainer, json={"note": "mine"})
    assert own.status_code == 403 and own.json()["type"].endswith("joint-model-self-approval")
    early = client.post(
        f"/api/v1/joint-lab/models/{first}/aliases", headers=officer, json={"alias": "champion"}
    )
    assert early.status_code == 409 and early.json()["type"].endswith("joint-model-not-approved")

    for job_id in (first, second):
        ok = client.post(
            f"/api/v1/joint-lab/models/{job_id}/approve", headers=officer, json={"note": "MRM-2026-12"}
        )
        assert ok.status_code == 200 and ok.json()["status"] == "approved"
        assert ok.json()["approval_note"] == "MRM-2026-12" and ok.json()["approved_at"]
    for job_id, alias in ((first, "champion"), (second, "challenger")):
        r = client.post(f"/api/v1/joint-lab/models/{job_id}/aliases", headers=officer, json={"alias": alias})
        assert r.status_code == 200 and r.json()["aliases"] == [alias]
    # Promoting the challenger moves the champion alias to its version.
    client.post(f"/api/v1/joint-lab/models/{second}/aliases", headers=officer, json={"alias": "champion"})
    after = {
        v["job_id"]: v["aliases"] for v in client.get("/api/v1/joint-lab/models", headers=trainer).json()
    }
    assert after == {first: [], second: ["challenger", "champion"]}

    other = auth(client, new_institution(services, "bank"))
    assert client.get("/api/v1/joint-lab/models", headers=other).json() == []
    assert client.post(
        f"/api/v1/joint-lab/models/{first}/approve", headers=other, json={"note": "x"}
    ).status_code in (
        403,
        404,
    )
