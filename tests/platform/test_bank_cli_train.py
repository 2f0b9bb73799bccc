"""A bank's risk analyst trains and scores from the command line and the SDK without ever making up a
job id: ``fincredit-bank train`` creates the job on the platform, aligns, trains, evaluates and
completes it; ``status``, ``approve`` and ``scoring score`` find the latest job by themselves (scoring
only once a second person of the bank approved the model); the fit names every
held-out row by the bank's own identifier; wrong inputs are refused before the platform does any work."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import uvicorn
from typer.testing import CliRunner

from fincredit.federation import JointLab, LogisticParams, PlatformApiError, cli
from fincredit.federation.errors import InputError
from fincredit.platform.metered.joint_lab.seed import (
    BANK_FEATURES,
    PLATFORM_FEATURES,
    entitle,
    model_risk_officer,
    seed_joint_setting,
)
from fincredit.platform.testing.plugin import new_institution, obtain_token

pytestmark = pytest.mark.slow

PRODUCTS = ("market.joint_modelling", "market.encrypted_scoring")
runner = CliRunner()


@pytest.fixture(scope="module")
def live(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
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


@pytest.fixture
def bank(services, client, live, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    institution = new_institution(services, "bank")
    entitle(services, institution.org_id, PRODUCTS)
    setting = seed_joint_setting(services, institution.org_id, n=200, unknown=20, seed=2)
    token = obtain_token(client, institution)
    monkeypatch.setenv("FINCREDIT_TOKEN", token)
    monkeypatch.setenv("FINCREDIT_URL", live)
    return setting, token, institution.org_id


def test_train_creates_runs_and_completes_a_job_then_status_and_scoring_find_it(  # type: ignore[no-untyped-def]
    bank, live, client, services, tmp_path: Path
) -> None:
    setting, token, org_id = bank
    loans, applicants, wd = tmp_path / "loans.csv", tmp_path / "applicants.csv", tmp_path / "wd"
    setting.bank.to_csv(loans, index=False)
    setting.applicants.to_csv(applicants, index=False)
    result = runner.invoke(
        cli.app,
        [
            "train", str(loans), "--id-column", "uscc", "--label", "default",
            "-f", ",".join(BANK_FEATURES), "-p", PLATFORM_FEATURES[0], "-p", PLATFORM_FEATURES[1],
            "--algorithm", "logistic", "--iterations", "5", "--workdir", str(wd), "--no-progress",
            "--mlflow-uri", f"sqlite:///{tmp_path / 'bank-mlflow.db'}", "--registered-model", "sme-credit",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    job_id, state, model = result.stdout.strip().splitlines()[-1].split("\t")
    assert job_id.startswith("jm-") and state == "completed" and Path(model).is_file()
    # The bank's half is a version of the bank's own registered model too, with the job's lineage.
    import mlflow

    bank_uri = f"sqlite:///{tmp_path / 'bank-mlflow.db'}"
    registry = mlflow.MlflowClient(tracking_uri=bank_uri, registry_uri=bank_uri)
    (version,) = registry.search_model_versions(f"tags.`fincredit.job_id` = '{job_id}'")
    assert version.name == "sme-credit" and version.source.endswith("/bank_part.json")
    with JointLab(live, token) as lab:
        job = lab.job(job_id)
    assert job.state == "completed" and job.mlflow_run_id and job.evaluation["auc_joint"] > 0.5
    assert job.scopes == ["tax_rating"]  # derived from the features: the job named no scopes

    # The held-out scores are keyed by the bank's own identifiers, all of them consenting subjects.
    heldout = pd.read_csv(Path(model).parent / "heldout_scores.csv", dtype={"uscc": str})
    assert set(heldout["uscc"]) <= set(setting.consenting) and heldout["joint"].notna().all()

    status = runner.invoke(cli.app, ["status", "--workdir", str(wd)])
    assert status.exit_code == 0, status.output
    assert status.stdout.startswith(f"{job_id}\tdone") and "platform\tcompleted" in status.stdout

    # Scoring needs the model-risk sign-off of a second person of the bank: refused before it.
    out = tmp_path / "scores.csv"
    score_args = ["scoring", "score", str(applicants), str(out), "--workdir", str(wd), "--no-progress"]
    early = runner.invoke(cli.app, score_args)
    assert early.exit_code == 1 and "not approved" in early.output
    own = runner.invoke(cli.app, ["approve", "--note", "validated", "--workdir", str(wd)])
    assert own.exit_code == 1 and "joint-model-self-approval" in own.output
    officer = obtain_token(client, model_risk_officer(services, org_id))
    approved = runner.invoke(
        cli.app,
        ["approve", "--note", "validation report 2026-12", "--alias", "champion", "--workdir", str(wd)],
        env={"FINCREDIT_TOKEN": officer},
    )
    assert approved.exit_code == 0, approved.output
    assert approved.stdout.strip().endswith("approved\tchampion")

    # No model, platform or id column named: the latest trained job supplies them. A logistic model
    # scores with the default protocol (lr-partial), which needs no deposit of the bank's weights.
    scored = runner.invoke(cli.app, score_args)
    assert scored.exit_code == 0, scored.output
    scores = pd.read_csv(out, dtype={"uscc": str})
    ok = scores["refused"].isna()
    assert set(scores.loc[ok, "uscc"]) == set(setting.scoring_consenting) & set(scores["uscc"])
    assert scores.loc[ok, "probability"].between(0, 1).all()
    assert scores.loc[~ok, "refused"].notna().all()  # each refused row carries its reason code


def test_the_sdk_returns_the_alignment_and_scores_keyed_by_the_banks_ids(bank, live) -> None:  # type: ignore[no-untyped-def]
    setting, token, _ = bank
    df = setting.bank.sample(frac=1.0, random_state=3).reset_index(drop=True)  # any row order
    with JointLab(live, token) as lab:
        trained = lab.train(
            df,
            id_column="uscc",
            label="default",
            features=list(BANK_FEATURES),
            platform_features=list(PLATFORM_FEATURES),
            algorithm="logistic",
            logistic=LogisticParams(iterations=3),
            progress=False,
        )
    fit = trained.fit
    assert trained.job.state == "completed" and trained.job.aligned == len(fit.aligned_ids)
    # The alignment is the bank's own rows, in join order: row positions and their ids agree.
    alignment = fit.alignment
    assert list(df["uscc"].iloc[alignment["row"]]) == list(alignment["uscc"])
    assert set(alignment["uscc"]) == set(setting.consenting)
    # Scores, the bank-only baseline and labels share one index: the bank's identifiers.
    assert fit.scores.index.name == "uscc" and fit.scores.index.equals(fit.bank_only_scores.index)
    truth = df.set_index("uscc").loc[fit.labels.index, "default"]
    assert (truth.to_numpy() == fit.labels.to_numpy()).all()


def test_wrong_inputs_are_refused_with_the_reason_before_any_work(bank, live, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    setting, token, _ = bank
    with JointLab(live, token) as lab:
        before = len(lab.jobs())
        with pytest.raises(InputError, match="outcome"):
            lab.train(
                setting.bank,
                id_column="uscc",
                label="outcome",
                features=list(BANK_FEATURES),
                platform_features=list(PLATFORM_FEATURES),
                progress=False,
            )
        assert len(lab.jobs()) == before  # the frame was checked before a job was opened
        with pytest.raises(PlatformApiError) as refused:
            lab.create_job(algorithm="logistic", platform_features=["no_such_feature"])
        assert refused.value.status == 422 and refused.value.slug == "joint-job-invalid"
        assert "no_such_feature" in refused.value.detail
        with pytest.raises(PlatformApiError) as missing:
            lab.job("jm-does-not-exist")
        assert missing.value.status == 404 and missing.value.slug == "joint-job-not-found"
    loans = tmp_path / "loans.csv"
    setting.bank.to_csv(loans, index=False)
    no_column = runner.invoke(
        cli.app, ["train", str(loans), "--id-column", "code", "--label", "default", "-f", "term_months"]
    )
    assert no_column.exit_code == 2 and "no column 'code'" in no_column.output
    no_features = runner.invoke(
        cli.app,
        ["train", str(loans), "--id-column", "uscc", "--label", "default", "-f", "term_months",
         "--workdir", str(tmp_path / "wd")],
    )  # fmt: skip
    assert no_features.exit_code == 2 and "tax_rating_latest" in no_features.output  # lists what is offered
    nothing = runner.invoke(
        cli.app, ["scoring", "score", str(loans), "x.csv", "--workdir", str(tmp_path / "none")]
    )
    assert nothing.exit_code == 2 and "fincredit-bank train" in nothing.output


def test_the_platform_features_iv_is_learnt_under_encryption_before_training(bank, live) -> None:  # type: ignore[no-untyped-def]
    setting, token, _ = bank
    features = ["tax_rating_latest", "tax_rating_best_3y", "days_since_tax_rating"]
    with JointLab(live, token) as lab:
        job = lab.create_job(algorithm="logistic", platform_features=features)
        alignment = lab.align(job.id, setting.bank["uscc"].tolist())
        ivs = lab.platform_information_values(
            job.id, setting.bank, label="default", alignment=alignment, bins=5
        )
        # One IV per platform feature, nothing per row; the ratings carry the risk in this setting.
        assert sorted(ivs.index) == sorted(features) and (ivs["iv"] >= 0).all()
        assert ivs.loc["tax_rating_latest", "iv"] > 0.1 and (ivs["bins"] <= 5).all()
        # The same job then trains on the same alignment (no second PSI).
        trained = lab.train(
            setting.bank,
            id_column="uscc",
            label="default",
            features=list(BANK_FEATURES),
            platform_features=features,
            algorithm="logistic",
            logistic=LogisticParams(iterations=3),
            job_id=job.id,
            alignment=alignment,
            progress=False,
        )
    assert trained.job.state == "completed" and trained.job.aligned == alignment.size
