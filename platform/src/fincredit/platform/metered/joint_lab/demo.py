"""Demo steps of joint modelling and encrypted scoring (G§13): the platform's offered features as
versioned data, a bank trains a joint model from its own premises over HTTP (the fincredit.federation
SDK's JointLab: job, PSI, training, completion), a second person of the bank signs the registered
version off (champion), the bank scores encrypted applicants (those without a scoring
consent refused one by one), the borrower sees both uses in their access log, and the bank's bill
shows the usage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fincredit.federation import EncryptedScorer, JointLab, PlatformConnection
from fincredit.federation.training import SecureBoostParams
from fincredit.platform.core.db import Subject
from fincredit.platform.metered.joint_lab.seed import (
    BANK_FEATURES,
    PLATFORM_FEATURES,
    SCOPES,
    entitle,
    model_risk_officer,
    seed_joint_setting,
)
from fincredit.platform.subjects import find_subject

if TYPE_CHECKING:
    from fincredit.platform.demo.context import DemoContext

_BORROWER = ("joint-owner-01", "demo-password-2026")
_PRODUCTS = ("market.joint_modelling", "market.encrypted_scoring")


def step_feature_views(ctx: DemoContext) -> str:
    """The platform's offered features are data (versioned feature views): the bank lists the ones a
    consent to the tax-rating item covers, each with its sources and rule."""
    r = ctx.http.get("/api/v1/joint-lab/features", headers=ctx.as_("bank"))
    r.raise_for_status()
    offer = r.json()
    covered = ctx.http.get(
        "/api/v1/joint-lab/features", params={"scope": list(SCOPES)}, headers=ctx.as_("bank")
    )
    covered.raise_for_status()
    names = [f["name"] for f in covered.json()["features"]]
    ctx.data["joint_platform_features"] = names
    declarative = sum(1 for f in offer["features"] if f["aggregation"] != "builtin")
    return (
        f"feature views v{offer['version']}: {len(offer['features'])} features offered "
        f"({declarative} defined declaratively); covered by {', '.join(SCOPES)}: {', '.join(names)}"
    )


def step_joint_training(ctx: DemoContext) -> str:
    """The bank's risk team trains a SecureBoost joint model from its premises with the SDK's JointLab:
    the job is created on the platform, PSI with the enterprises that consented to joint modelling with
    this bank, CKKS-encrypted gradients, bank-only vs joint AUC, and the job completed and registered."""
    bank = ctx.actors["bank"]
    entitle(ctx.services, bank.org_id, _PRODUCTS)
    setting = seed_joint_setting(ctx.services, bank.org_id, n=400, seed=2026)
    ctx.data["joint_setting"] = setting
    features = ctx.data.get("joint_platform_features") or list(PLATFORM_FEATURES)
    token = ctx.as_("bank")["Authorization"].split(" ", 1)[1]
    with JointLab(ctx.base_url, token, timeout=300) as lab:
        trained = lab.train(
            setting.bank,
            id_column="uscc",
            label="default",
            features=list(BANK_FEATURES),
            platform_features=features,
            algorithm="secureboost",
            purpose="SME working-capital scorecard",
            secureboost=SecureBoostParams(n_trees=5, max_depth=3),
            progress=False,
        )
    ctx.data["joint_fit"] = trained.fit
    ctx.data["joint_job"] = trained.job
    rep, job = trained.fit.report, trained.job
    mine = trained.fit.scores.index[:2].tolist()
    return (
        f"{job.aligned} of {len(setting.bank)} applicants aligned (consenting only), "
        f"{len(features)} platform features; AUC bank-only {rep.auc_bank_only:.3f} -> joint "
        f"{rep.auc_joint:.3f} (uplift {rep.auc_uplift:+.3f}); held-out scores keyed by the bank's "
        f"own ids (e.g. {', '.join(mine)}); "
        f"MLflow run {(job.mlflow_run_id or '')[:8]}, lineage over {job.consent_count} consents"
    )


def step_joint_approval(ctx: DemoContext) -> str:
    """Model-risk sign-off: the model is a registered version pending approval; encrypted scoring is
    refused until a second person of the bank approves it, who then makes it the champion."""
    from fincredit.platform.demo.context import Actor

    bank = ctx.actors["bank"]
    job = ctx.data["joint_job"]
    officer = model_risk_officer(ctx.services, bank.org_id)
    ctx.actors["model_risk"] = Actor(officer.org_id, officer.account_id, officer.kid, officer.private_pem)
    own = ctx.http.post(
        f"/api/v1/joint-lab/models/{job.id}/approve", headers=ctx.as_("bank"), json={"note": "my own model"}
    )
    approved = ctx.http.post(
        f"/api/v1/joint-lab/models/{job.id}/approve",
        headers=ctx.as_("model_risk"),
        json={"note": "validation report MRM-2026-12: discrimination, stability, lineage reviewed"},
    )
    approved.raise_for_status()
    champion = ctx.http.post(
        f"/api/v1/joint-lab/models/{job.id}/aliases",
        headers=ctx.as_("model_risk"),
        json={"alias": "champion"},
    )
    champion.raise_for_status()
    v = champion.json()
    return (
        f"{v['name']} v{v['version']}: the trainer's own approval refused ({own.status_code} "
        f"{own.json()['type'].rsplit('/', 1)[-1]}); approved by a second officer, aliases {v['aliases']}"
    )


def step_joint_scoring(ctx: DemoContext) -> str:
    """The bank scores applicants with encrypted requests; rows without a scoring consent are refused
    one by one, the rest of the batch is scored (one metered unit and one ledger entry each)."""
    setting = ctx.data["joint_setting"]
    token = ctx.as_("bank")["Authorization"].split(" ", 1)[1]
    with PlatformConnection(ctx.base_url, token, timeout=300) as conn:
        # The default protocols need no deposit of the bank's weights (tree-masked / tree-groups here).
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
    ("The platform's offered features, as versioned data", step_feature_views),
    ("Joint model trained from the bank's premises (PSI + SecureBoost under CKKS)", step_joint_training),
    ("Model-risk sign-off by a second person; champion alias", step_joint_approval),
    ("Encrypted scoring, refused per row without consent", step_joint_scoring),
    ("The borrower sees the uses; the bank's bill shows them", step_joint_borrower_and_bill),
]
