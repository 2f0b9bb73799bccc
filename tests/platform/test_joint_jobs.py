"""Joint-modelling jobs on the platform side: the PSI input set holds only subjects whose ACTIVE
joint-modelling consent covers the job's scopes, each aligned subject gets one ledger entry; quota and
entitlement are checked before any work; an abandoned job ends FAILED with a clear status; malformed
frames and ciphertexts are refused with a clear code and nothing is metered or ledgered."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
from sqlalchemy import func, select

from fincredit.federation import Frame, PlatformConnection
from fincredit.federation.joint_model import BankLogisticPart
from fincredit.federation.scorer import EncryptedScorer
from fincredit.federation.wire import decode, encode
from fincredit.platform.consents.tables import LedgerEntryRow
from fincredit.platform.core.db import utcnow
from fincredit.platform.identity.principal import Principal
from fincredit.platform.metered.billing.tables import Entitlement, UsageEvent
from fincredit.platform.metered.joint_lab import sweep_abandoned
from fincredit.platform.metered.joint_lab._lifecycle import approve_version
from fincredit.platform.metered.joint_lab._models import part_from_json
from fincredit.platform.metered.joint_lab._registry import register_platform_half
from fincredit.platform.metered.joint_lab.router import federation_of
from fincredit.platform.metered.joint_lab.seed import PLATFORM_FEATURES, SCOPES, entitle, seed_joint_setting
from fincredit.platform.metered.joint_lab.tables import JointJob, JointModel
from fincredit.platform.testing.plugin import auth, new_institution

PRODUCTS = ("market.joint_modelling", "market.encrypted_scoring")
JOB = {
    "purpose": "SME scorecard",
    "algorithm": "logistic",
    "catalog_items": list(SCOPES),
    "platform_features": list(PLATFORM_FEATURES),
}


class _App:
    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.app = app


class _Link:
    """The frames endpoint's handler without HTTP: bytes in, bytes out, as the bank's token's institution."""

    def __init__(self, federation, principal: Principal) -> None:  # type: ignore[no-untyped-def]
        self.federation, self.principal = federation, principal

    def call(self, frame: Frame) -> Frame:
        return decode(self.federation.handle_bytes(encode(frame), self.principal))


def _principal(inst) -> Principal:  # type: ignore[no-untyped-def]
    return Principal(inst.account_id, "institution", inst.org_id, "bank", inst.org_id)


def _count(services, model, *where) -> int:  # type: ignore[no-untyped-def]
    with services.read() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_only_consenting_subjects_are_aligned_and_each_is_ledgered(client, services, app) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    entitle(services, bank.org_id, PRODUCTS)
    setting = seed_joint_setting(services, bank.org_id, n=80, consent_share=0.5, unknown=10, seed=3)
    job = client.post("/api/v1/joint-lab/jobs", headers=auth(client, bank), json=JOB).json()
    conn = PlatformConnection.over(_Link(federation_of(_App(app)), _principal(bank)), timeout=60)
    alignment = conn.align(job["id"], setting.bank["uscc"].tolist(), scopes=list(SCOPES), progress=False)
    aligned = set(setting.bank["uscc"].iloc[np.asarray(alignment.rows)])
    assert aligned == set(setting.consenting)  # non-consenting and unknown applicants never enter
    ledgered = _count(
        services,
        LedgerEntryRow,
        LedgerEntryRow.grantee_org_id == bank.org_id,
        LedgerEntryRow.type == "joint_modelling_use",
    )
    assert ledgered == len(aligned)
    state = client.get(f"/api/v1/joint-lab/jobs/{job['id']}", headers=auth(client, bank)).json()
    assert (state["state"], state["aligned"], state["consent_count"]) == (
        "aligned",
        len(aligned),
        len(aligned),
    )
    assert state["platform_size"] == len(setting.consenting)


def test_no_entitlement_or_no_quota_is_refused_before_any_job_exists(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    headers = auth(client, bank)
    r = client.post("/api/v1/joint-lab/jobs", headers=headers, json=JOB)
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    with services.tx() as session:
        session.add(
            Entitlement(org_id=bank.org_id, product="market.joint_modelling", enabled=True, monthly_quota=0)
        )
    r = client.post("/api/v1/joint-lab/jobs", headers=headers, json=JOB)
    assert r.status_code == 429, r.text
    assert _count(services, JointJob, JointJob.org_id == bank.org_id) == 0


def test_features_outside_the_requested_scopes_are_refused(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    entitle(services, bank.org_id, PRODUCTS)
    body = {**JOB, "platform_features": ["penalty_count_3y"]}
    r = client.post("/api/v1/joint-lab/jobs", headers=auth(client, bank), json=body)
    assert r.status_code == 422 and "admin_penalty" in r.text


def test_an_abandoned_job_ends_failed_with_a_clear_status(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    entitle(services, bank.org_id, PRODUCTS)
    headers = auth(client, bank)
    job = client.post("/api/v1/joint-lab/jobs", headers=headers, json=JOB).json()
    with services.tx() as session:
        sweep_abandoned(session, 60.0, now=utcnow() + dt.timedelta(minutes=5))
    state = client.get(f"/api/v1/joint-lab/jobs/{job['id']}", headers=headers).json()
    assert state["state"] == "failed" and state["status"].startswith("abandoned")
    r = client.post(
        f"/api/v1/joint-lab/jobs/{job['id']}/complete",
        headers=headers,
        json={
            "evaluation": {
                "algorithm": "logistic",
                "rows_train": 1,
                "rows_test": 1,
                "auc_joint": 0.5,
                "ks_joint": 0.0,
                "auc_bank_only": 0.5,
                "ks_bank_only": 0.0,
                "auc_uplift": 0.0,
            }
        },
    )
    assert r.status_code == 409 and "abandoned" in r.text


def test_another_banks_job_is_forbidden_and_garbage_frames_are_wire_errors(client, services) -> None:  # type: ignore[no-untyped-def]
    owner, other = new_institution(services, "bank"), new_institution(services, "bank")
    entitle(services, owner.org_id, PRODUCTS)
    job = client.post("/api/v1/joint-lab/jobs", headers=auth(client, owner), json=JOB).json()
    frame = Frame(kind="psi.start", job_id=job["id"], meta={"protocol": "x", "bank_size": 1, "scopes": []})
    octets = {"Content-Type": "application/octet-stream"}
    r = client.post("/federation/v1/frames", headers=auth(client, other) | octets, content=encode(frame))
    assert r.status_code == 403
    r = client.post("/federation/v1/frames", headers=auth(client, other) | octets, content=b"not a frame")
    assert r.status_code == 200 and decode(r.content).meta["code"] == "wire"


def _scoring_model(services, bank) -> str:  # type: ignore[no-untyped-def]
    """A completed logistic job and its platform half, written directly (training has its own tests)."""
    job_id = f"jm-test-{bank.org_id}"
    now = utcnow()
    with services.tx() as session:
        session.add(
            JointJob(
                id=job_id,
                org_id=bank.org_id,
                account_id=bank.account_id,
                purpose="test",
                algorithm="logistic",
                catalog_items=list(SCOPES),
                market_datasets=[],
                platform_features=list(PLATFORM_FEATURES),
                state="completed",
                status="completed",
                fill_values={"tax_rating_latest": 3.0, "tax_rating_worst_3y": 3.0},
                evaluation={},
                created_at=now,
                updated_at=now,
                completed_at=now,
            )
        )
        session.flush()
        session.add(
            JointModel(
                id=job_id,
                org_id=bank.org_id,
                algorithm="logistic",
                platform_part={
                    "model_id": job_id,
                    "features": list(PLATFORM_FEATURES),
                    "weights": [-0.8, -0.3],
                    "means": [2.5, 2.4],
                    "scales": [1.2, 1.3],
                },
                bank_deposit=None,
            )
        )
        job = session.get(JointJob, job_id)
        assert job is not None
        session.expunge(job)
    # Registered in MLflow and signed off by a second person of the bank: only then does it score.
    var_dir = services.settings.var_dir
    part = part_from_json(
        "logistic", {"model_id": job_id, "features": list(PLATFORM_FEATURES), "weights": [-0.8, -0.3]}
    )
    register_platform_half(var_dir, job=job, part=part, evaluation={}, consent_ids=[])
    approve_version(var_dir, job, account_id="model-risk-officer", note="test", now=now)
    return job_id


def test_scoring_refuses_rows_without_consent_and_meters_only_scored_rows(client, services, app) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    entitle(services, bank.org_id, PRODUCTS)
    setting = seed_joint_setting(services, bank.org_id, n=40, scoring_share=0.5, unknown=5, seed=5)
    model_id = _scoring_model(services, bank)
    part = BankLogisticPart(model_id, ["term_months"], [0.01], -1.0, [24.0], [12.0])
    link = _Link(federation_of(_App(app)), _principal(bank))
    applicants = setting.bank[["uscc", "term_months"]]
    scored = EncryptedScorer(link, part, id_column="uscc", protocol="lr-partial", progress=False).score(
        applicants
    )
    consenting = applicants["uscc"].isin(set(setting.scoring_consenting))
    assert (scored["refused"].isna() == consenting).all()
    assert set(scored.loc[applicants["uscc"].isin(setting.unknown), "refused"]) == {"unknown_subject"}
    with services.read() as session:
        units = session.scalar(
            select(func.sum(UsageEvent.quantity)).where(
                UsageEvent.org_id == bank.org_id, UsageEvent.product == "market.encrypted_scoring"
            )
        )
    assert units == Decimal(int(consenting.sum()))
    uses = _count(
        services,
        LedgerEntryRow,
        LedgerEntryRow.grantee_org_id == bank.org_id,
        LedgerEntryRow.type == "scoring_use",
    )
    assert uses == int(consenting.sum())


def test_malformed_ciphertexts_get_a_4xx_code_and_nothing_is_metered(client, services, app) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    entitle(services, bank.org_id, PRODUCTS)
    setting = seed_joint_setting(services, bank.org_id, n=10, scoring_share=1.0, unknown=0, seed=9)
    model_id = _scoring_model(services, bank)
    part = BankLogisticPart(model_id, ["term_months"], [0.01], -1.0, [24.0], [12.0])
    scorer = EncryptedScorer(_Link(None, _principal(bank)), part, id_column="uscc", protocol="lr-partial")
    ids = setting.bank["uscc"].tolist()
    frame = Frame(
        kind="scoring.request",
        job_id="score-1",
        meta={"model_id": model_id, "protocol": "lr-partial", "n_rows": len(ids), "columns": 1},
        blobs=[scorer.public_context, "\n".join(ids).encode(), b"\x00garbage ciphertext"],
    )
    reply = _Link(federation_of(_App(app)), _principal(bank)).call(frame)
    assert reply.kind == "error" and 400 <= int(reply.meta["status"]) < 500, reply.meta
    bad_context = Frame(
        kind=frame.kind, job_id="score-2", meta=frame.meta, blobs=[b"nonsense", *frame.blobs[1:]]
    )
    reply = _Link(federation_of(_App(app)), _principal(bank)).call(bad_context)
    assert reply.kind == "error" and 400 <= int(reply.meta["status"]) < 500, reply.meta
    assert _count(services, UsageEvent, UsageEvent.org_id == bank.org_id) == 0
    # Only the seeded consents' own request and grant entries: no use, refusal or disclosure was ledgered.
    uses = _count(
        services,
        LedgerEntryRow,
        LedgerEntryRow.grantee_org_id == bank.org_id,
        LedgerEntryRow.type.not_like("consent_%"),
    )
    assert uses == 0


def test_a_job_whose_platform_state_was_lost_fails_cleanly(client, services, app) -> None:  # type: ignore[no-untyped-def]
    """A job whose saved platform state is gone (its store was lost) ends FAILED with the reason at its
    next frame, whichever instance takes it."""
    from fincredit.platform.metered.joint_lab import FederationService

    bank = new_institution(services, "bank")
    entitle(services, bank.org_id, PRODUCTS)
    headers = auth(client, bank)
    job = client.post("/api/v1/joint-lab/jobs", headers=headers, json=JOB).json()
    with services.tx() as session:
        row = session.get(JointJob, job["id"])
        assert row is not None
        row.state = "aligning"
    restarted = FederationService(services)
    reply = _Link(restarted, _principal(bank)).call(
        Frame(kind="psi.points", job_id=job["id"], meta={"offset": 0, "count": 1})
    )
    assert reply.kind == "error" and reply.meta["code"] == "job_failed"
    state = client.get(f"/api/v1/joint-lab/jobs/{job['id']}", headers=headers).json()
    assert state["state"] == "failed" and "saved state" in state["status"]
