"""The bank SDK against the platform over real HTTP: a job is created (quota first), the PSI aligns
the bank's applicants with the subjects whose joint-modelling consent allows it (one ledger entry per
aligned subject), LR and SecureBoost train on the platform's features, completion registers the
platform's half in MLflow and meters one job; encrypted scoring refuses rows without a scoring consent
one by one, ledgers and meters the scored ones. Every frame is recorded at the endpoint: no label, raw
feature value or non-intersecting identifier crosses, and the context the platform receives holds no
secret key."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import numpy as np
import pytest
import tenseal as ts
import uvicorn
from sqlalchemy import func, select

from fincredit.federation import EncryptedScorer, JointModel, LogisticParams, PlatformConnection
from fincredit.federation.errors import PartyError
from fincredit.federation.scoring import deposit_bank_half
from fincredit.federation.training import SecureBoostParams
from fincredit.federation.wire import decode
from fincredit.models.tracking import Tracking
from fincredit.platform.consents.tables import LedgerEntryRow
from fincredit.platform.metered.billing.tables import UsageEvent
from fincredit.platform.metered.joint_lab.router import federation_of
from fincredit.platform.metered.joint_lab.seed import (
    BANK_FEATURES,
    PLATFORM_FEATURES,
    SCOPES,
    entitle,
    model_risk_officer,
    seed_joint_setting,
)
from fincredit.platform.metered.joint_lab.tables import JointJob
from fincredit.platform.testing.plugin import auth, new_institution, obtain_token

pytestmark = pytest.mark.slow

PRODUCTS = ("market.joint_modelling", "market.encrypted_scoring")


@pytest.fixture(scope="module")
def live(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # lifespan off: the session's services outlive this server
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _job(client, headers, algorithm: str) -> dict:  # type: ignore[no-untyped-def]
    r = client.post(
        "/api/v1/joint-lab/jobs",
        headers=headers,
        json={
            "purpose": "SME working-capital scorecard",
            "algorithm": algorithm,
            "catalog_items": list(SCOPES),
            "platform_features": list(PLATFORM_FEATURES),
        },
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _haystack_found(frames: list[bytes], patterns: list[bytes]) -> list[bytes]:
    """Patterns (8 bytes or longer) found anywhere in the frames, at every byte alignment: one
    vectorised lookup of their first 8 bytes per alignment, then an exact comparison of the hits."""
    data = b"\x00".join(frames)
    keys: dict[int, list[bytes]] = {}
    for p in patterns:
        if len(p) >= 8:
            keys.setdefault(int(np.frombuffer(p[:8], dtype="<u8")[0]), []).append(p)
    wanted = np.fromiter(keys, dtype=np.uint64)
    hits = []
    for offset in range(8):
        windows = np.frombuffer(data, dtype="<u8", count=(len(data) - offset) // 8, offset=offset)
        for i in np.nonzero(np.isin(windows, wanted))[0]:
            pos = offset + 8 * int(i)
            hits.extend(p for p in keys[int(windows[i])] if data.startswith(p, pos))
    return hits


def test_bank_trains_and_scores_over_http_without_leaking(client, services, app, live) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    entitle(services, bank.org_id, PRODUCTS)
    setting = seed_joint_setting(services, bank.org_id, n=300, seed=7)
    headers = auth(client, bank)
    token = obtain_token(client, bank)
    federation = federation_of(_request_like(app))
    recorded: list[tuple[str, bytes]] = []
    federation.recorder = lambda direction, body: recorded.append((direction, body))
    try:
        reports = {}
        for algorithm in ("logistic", "secureboost"):
            job = _job(client, headers, algorithm)
            with PlatformConnection(live, token, timeout=300) as conn:
                fit = JointModel(
                    conn,
                    logistic=LogisticParams(iterations=6),
                    secureboost=SecureBoostParams(n_trees=4, max_depth=3, min_data_in_leaf=20),
                    progress=False,
                ).fit(
                    setting.bank,
                    id_column="uscc",
                    label="default",
                    features=list(BANK_FEATURES),
                    platform_features=list(PLATFORM_FEATURES),
                    algorithm=algorithm,  # type: ignore[arg-type]
                    job_id=job["id"],
                    align=True,
                    scopes=list(SCOPES),
                )
            state = client.get(f"/api/v1/joint-lab/jobs/{job['id']}", headers=headers).json()
            assert state["state"] == "trained"
            assert (
                state["aligned"]
                == len(set(setting.consenting))
                == fit.report.rows_train + fit.report.rows_test
            )
            deposit = None
            if algorithm == "logistic":
                deposited, _ = deposit_bank_half(fit.bank_part)  # type: ignore[arg-type]
                deposit = {
                    "model_id": deposited.model_id,
                    "features": deposited.features,
                    "weights": deposited.weights,
                    "intercept": deposited.intercept,
                }
            r = client.post(
                f"/api/v1/joint-lab/jobs/{job['id']}/complete",
                headers=headers,
                json={"evaluation": {**fit.report.to_dict(), "params": fit.params}, "deposit": deposit},
            )
            assert r.status_code == 200, r.text
            done = r.json()
            assert done["state"] == "completed" and done["mlflow_run_id"]
            assert done["consent_count"] == len(set(setting.consenting)) and len(done["consent_digest"]) == 64
            # the curves the bank's jobs page draws are stored with the job, thinned to ~100 points
            roc = done["evaluation"]["curves"]["joint"]["roc"]
            assert 2 <= len(roc["fpr"]) <= 101 and roc["fpr"][0] == 0.0 and roc["tpr"][-1] == 1.0
            reports[algorithm] = (job["id"], fit)
            run = Tracking(services.settings.var_dir / "mlflow").run(done["mlflow_run_id"])
            assert run["metrics"]["auc_joint"] == pytest.approx(fit.report.auc_joint)
            assert run["metrics"]["auc_uplift"] == pytest.approx(fit.report.auc_uplift)
            assert run["tags"]["lineage.catalog_items"] == ",".join(SCOPES)
            assert run["tags"]["lineage.consent_count"] == str(done["consent_count"])
            assert run["tags"]["lineage.consent_sha256"] == done["consent_digest"]
            assert run["tags"]["fincredit.party"] == "platform"

        # the joint model beats the bank-only one on this setting (the platform's ratings carry risk)
        assert reports["secureboost"][1].report.auc_uplift > 0.0
        with services.read() as session:
            ledgered = session.scalar(
                select(func.count()).where(
                    LedgerEntryRow.grantee_org_id == bank.org_id, LedgerEntryRow.type == "joint_modelling_use"
                )
            )
            jobs_billed = session.scalar(
                select(func.sum(UsageEvent.quantity)).where(
                    UsageEvent.org_id == bank.org_id, UsageEvent.product == "market.joint_modelling"
                )
            )
        assert ledgered == 2 * len(set(setting.consenting))  # one entry per aligned subject and job
        assert jobs_billed == Decimal(2)

        # encrypted scoring with the tree model: rows without a scoring consent are refused one by one,
        # once a second person of the bank signed the versions off
        officer = {
            "Authorization": f"Bearer {obtain_token(client, model_risk_officer(services, bank.org_id))}"
        }
        for job_id, _ in reports.values():
            r = client.post(
                f"/api/v1/joint-lab/models/{job_id}/approve", headers=officer, json={"note": "ok"}
            )
            assert r.status_code == 200 and r.json()["status"] == "approved", r.text
        _, tree_fit = reports["secureboost"]
        scored_before = _scored(services, bank.org_id)
        with PlatformConnection(live, token, timeout=300) as conn:
            scores = EncryptedScorer(conn, tree_fit.bank_part, id_column="uscc", progress=False).score(
                setting.applicants
            )
        allowed = set(setting.scoring_consenting)
        expect_scored = scores["uscc"].isin(allowed)
        assert (scores["refused"].isna() == expect_scored).all()
        assert np.isfinite(scores.loc[expect_scored, "probability"]).all()
        assert set(scores.loc[~expect_scored, "refused"]) <= {
            "no_consent",
            "unknown_subject",
            "no-consent",
        } | set(scores.loc[~expect_scored, "refused"])
        assert _scored(services, bank.org_id) - scored_before == int(expect_scored.sum())

        # LR with the deposited half
        _, lr_fit = reports["logistic"]
        _, keep = deposit_bank_half(lr_fit.bank_part)  # type: ignore[arg-type]
        with PlatformConnection(live, token, timeout=300) as conn:
            lr_scores = EncryptedScorer(conn, keep, id_column="uscc", progress=False).score(
                setting.applicants
            )
        assert (lr_scores["refused"].isna() == expect_scored).all()
    finally:
        federation.recorder = None

    frames = [body for _, body in recorded]
    planted = setting.bank["uscc"].iloc[0].encode()
    assert _haystack_found([*frames[:3], b".." + planted], [planted]) == [planted]  # the detector works
    # the platform only ever held public contexts
    for direction, body in recorded:
        if direction == "bank->platform":
            frame = decode(body)
            if frame.kind == "scoring.request":
                assert ts.context_from(frame.blobs[0]).is_private() is False
    # no non-intersecting identifier crosses in the clear (scoring names its applicants by design)
    training = [b for _, b in recorded if not decode(b).kind.startswith("scoring.")]
    assert not _haystack_found(training, [c.encode() for c in setting.bank["uscc"]])
    assert not _haystack_found(
        frames, [c.encode() for c in setting.unknown if c not in set(setting.applicants["uscc"])]
    )
    # no raw bank feature value crosses
    values = setting.bank[list(BANK_FEATURES)].to_numpy()
    patterns = [np.float64(v).tobytes() for v in values[:, 0]] + [
        repr(float(v)).encode() for v in values[:, 0]
    ]
    assert not _haystack_found(frames, patterns)
    # no run of labels crosses
    y = setting.bank["default"].to_numpy()
    label_runs = [y[i : i + 64].astype("<u1").tobytes() for i in range(0, y.size - 64, 16)]
    label_runs += [y[i : i + 16].astype("<f8").tobytes() for i in range(0, y.size - 16, 16)]
    assert not _haystack_found(frames, label_runs)


def _request_like(app):  # type: ignore[no-untyped-def]
    class _R:
        pass

    r = _R()
    r.app = app  # type: ignore[attr-defined]
    return r


def _scored(services, org_id: str) -> int:  # type: ignore[no-untyped-def]
    with services.read() as session:
        total = session.scalar(
            select(func.coalesce(func.sum(UsageEvent.quantity), 0)).where(
                UsageEvent.org_id == org_id, UsageEvent.product == "market.encrypted_scoring"
            )
        )
    return int(total or 0)


def test_frames_for_another_banks_job_are_forbidden(client, services, live) -> None:  # type: ignore[no-untyped-def]
    owner, other = new_institution(services, "bank"), new_institution(services, "bank")
    entitle(services, owner.org_id, PRODUCTS)
    job = _job(client, auth(client, owner), "logistic")
    with (
        PlatformConnection(live, obtain_token(client, other), timeout=30) as conn,
        pytest.raises(PartyError) as err,
    ):
        conn.align(job["id"], ["91330203MA2AXXXX0X"], scopes=list(SCOPES), progress=False)
    assert err.value.code == "unauthorized"
    with services.read() as session:
        assert session.get(JointJob, job["id"]).state == "created"  # type: ignore[union-attr]
