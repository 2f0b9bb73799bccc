"""Demo steps of joint modelling and encrypted scoring (G§13): a bank trains a joint model from its own
premises over HTTP (the fincredit.federation SDK), scores encrypted applicants (those without a scoring
consent refused one by one), the borrower sees both uses in their access log, and the bank's bill
shows the usage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fincredit.federation import EncryptedScorer, JointModel, LogisticParams, PlatformConnection
from fincredit.federation.training import SecureBoostParams
from fincredit.platform.core.db import Subject
from fincredit.platform.metered.joint_lab.seed import (
    BANK_FEATURES,
    PLATFORM_FEATURES,
    SCOPES,
    entitle,
    seed_joint_setting,
)
from fincredit.platform.subjects import find_subject

if TYPE_CHECKING:
    from fincredit.platform.demo.context import DemoContext

_BORROWER = ("joint-owner-01", "demo-password-2026")
_PRODUCTS = ("market.joint_modelling", "market.encrypted_scoring")


def step_joint_training(ctx: DemoContext) -> str:
    """The bank's risk team trains a SecureBoost joint model from its premises: PSI with the enterprises
    that consented to joint modelling with this bank, CKKS-encrypted gradients, bank-only vs joint AUC."""
    bank = ctx.actors["bank"]
    entitle(ctx.services, bank.org_id, _PRODUCTS)
    setting = seed_joint_setting(ctx.services, bank.org_id, n=400, seed=2026)
    ctx.data["joint_setting"] = setting
    headers = ctx.as_("bank")
    job = ctx.http.post(
        "/api/v1/joint-lab/jobs",
        headers=headers,
        json={
            "purpose": "SME working-capital scorecard",
            "algorithm": "secureboost",
            "catalog_items": list(SCOPES),
            "platform_features": list(PLATFORM_FEATURES),
        },
    )
    job.raise_for_status()
    job_id = job.json()["id"]
    with PlatformConnection(ctx.base_url, headers["Authorization"].split(" ", 1)[1], timeout=300) as conn:
        fit = JointModel(
            conn,
            logistic=LogisticParams(iterations=10),
            secureboost=SecureBoostParams(n_trees=5, max_depth=3),
            progress=False,
        ).fit(
            setting.bank,
            id_column="uscc",
            label="default",
            features=list(BANK_FEATURES),
            platform_features=list(PLATFORM_FEATURES),
            algorithm="secureboost",
            job_id=job_id,
            align=True,
            scopes=list(SCOPES),
        )
    r = ctx.http.post(
        f"/api/v1/joint-lab/jobs/{job_id}/complete",
        headers=headers,
        json={"evaluation": {**fit.report.to_dict(), "params": fit.params}},
    )
    r.raise_for_status()
    done = r.json()
    ctx.data["joint_fit"] = fit
    rep = fit.report
    return (
        f"{done['aligned']} of {len(setting.bank)} applicants aligned (consenting only); AUC bank-only "
        f"{rep.auc_bank_only:.3f} -> joint {rep.auc_joint:.3f} (uplift {rep.auc_uplift:+.3f}); "
        f"registered as MLflow run {done['mlflow_run_id'][:8]}, lineage over {done['consent_count']} consents"
    )


def step_joint_scoring(ctx: DemoContext) -> str:
    """The bank scores applicants with encrypted requests; rows without a scoring consent are refused
    one by one, the rest of the batch is scored (one metered unit and one ledger entry each)."""
    setting = ctx.data["joint_setting"]
    token = ctx.as_("bank")["Authorization"].split(" ", 1)[1]
    with PlatformConnection(ctx.base_url, token, timeout=300) as conn:
        scorer = EncryptedScorer(conn, ctx.data["joint_fit"].bank_part, id_column="uscc", progress=False)
        scores = scorer.score(setting.applicants)
    refused = scores["refused"].dropna().value_counts().to_dict()
    scored = int(scores["refused"].isna().sum())
    ctx.data["joint_scored"] = scores
    return f"{scored} applicants scored under encryption, refused individually: {refused}"


def step_joint_borrower_and_bill(ctx: DemoContext) -> str:
    """A scored enterprise's authorised person sees the joint-modelling and scoring uses in their
    access log; the bank's usage shows the job and the scored applicants."""
    setting = ctx.data["joint_setting"]
    scores = ctx.data["joint_scored"]
    both = set(setting.consenting) & set(scores.loc[scores["refused"].isna(), "uscc"])
    code = sorted(both)[0]
    username, password = _BORROWER
    ctx.http.post(
        "/api/v1/borrower-accounts",
        headers=ctx.as_("operator"),
        json={"username": username, "real_name": "钱法人", "password": password, "identifier": code},
    ).raise_for_status()
    r = ctx.http.post("/api/v1/auth/login", json={"username": username, "password": password})
    r.raise_for_status()
    me = {"Authorization": f"Bearer {r.json()['access_token']}"}
    items: list[dict[str, Any]] = ctx.http.get("/api/v1/me/accesses", headers=me).json()["items"]
    kinds = sorted({str(i["type"]) for i in items if i["type"] in ("joint_modelling_use", "scoring_use")})
    usage = ctx.http.get("/api/v1/billing/usage", headers=ctx.as_("bank")).json()
    with ctx.services.read() as session:
        subject: Subject = find_subject(session, ctx.services.keyring, code)
    lines = [
        f"{p['product']} {p['used']} {p['unit']}" for p in usage["products"] if p["product"] in _PRODUCTS
    ]
    return f"the borrower of {subject.code_masked} sees {kinds}; the bank's usage: {'; '.join(lines)}"


JOINT_STEPS = [
    ("Joint model trained from the bank's premises (PSI + SecureBoost under CKKS)", step_joint_training),
    ("Encrypted scoring, refused per row without consent", step_joint_scoring),
    ("The borrower sees the uses; the bank's bill shows them", step_joint_borrower_and_bill),
]
