"""The SDK's report and its MLflow registration of the bank's half (the platform's half stays away)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fincredit.federation import JointModel, LocalLink, LogisticParams, PlatformTrainingParty, log_bank_model


def _aligned(n: int = 240, seed: int = 2) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    bank = pd.DataFrame({"id": [f"A{i:05d}" for i in range(n)], "income": rng.normal(size=n)})
    platform = pd.DataFrame({"tax": rng.normal(size=n)})
    logit = 1.2 * bank["income"] + 1.5 * platform["tax"]
    bank["bad"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return bank, platform


def test_fit_refuses_bad_input_before_talking_to_the_platform() -> None:
    bank, platform = _aligned()
    party = PlatformTrainingParty(lambda job_id, bank_id: platform)
    link = LocalLink(party, record=True)
    sdk = JointModel(link, progress=False)
    common = {"id_column": "id", "features": ["income"], "platform_features": ["tax"]}
    with pytest.raises(ValueError, match="binary"):
        sdk.fit(bank.assign(bad=bank["bad"] * 2), label="bad", **common)
    with pytest.raises(ValueError, match="duplicate"):
        sdk.fit(bank.assign(id="same"), label="bad", **common)
    with pytest.raises(ValueError, match="missing"):
        sdk.fit(bank, label="nope", **common)
    with pytest.raises(ValueError, match="algorithm"):
        sdk.fit(bank, label="bad", algorithm="xgboost", **common)  # type: ignore[arg-type]
    assert link.transcript == []


@pytest.mark.slow
def test_bank_half_is_logged_to_mlflow_with_metrics_and_lineage(tmp_path: Path) -> None:
    mlflow = pytest.importorskip("mlflow")
    bank, platform = _aligned()
    party = PlatformTrainingParty(lambda job_id, bank_id: platform)
    fit = JointModel(LocalLink(party), logistic=LogisticParams(iterations=4), progress=False).fit(
        bank,
        id_column="id",
        label="bad",
        features=["income"],
        platform_features=["tax"],
        algorithm="logistic",
    )
    assert fit.report.rows_test == 48 and fit.report.auc_uplift > 0
    lineage = {"catalog_items": ["tax-records"], "consents": ["c-1", "c-2"]}
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_id = log_bank_model(
        fit,
        lineage=lineage,
        tracking_uri=uri,
        artifact_location=(tmp_path / "artifacts").as_uri(),
        registered_model="sme-working-capital",
    )
    run = mlflow.get_run(run_id)
    # The bank's half is a version of the bank's own registered model, found by the job's id.
    registry = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    (version,) = registry.search_model_versions(f"tags.`fincredit.job_id` = '{fit.job_id}'")
    assert version.name == "sme-working-capital" and version.run_id == run_id
    assert version.source.endswith("/bank_part.json")
    assert run.data.metrics["auc_joint"] == pytest.approx(fit.report.auc_joint)
    assert run.data.metrics["auc_bank_only"] == pytest.approx(fit.report.auc_bank_only)
    assert run.data.params["param.iterations"] == "4"
    artifacts = Path(run.info.artifact_uri.removeprefix("file://"))
    assert json.loads((artifacts / "lineage.json").read_text()) == lineage
    logged = json.loads((artifacts / "bank_part.json").read_text())
    assert logged["features"] == ["income"] and "tax" not in json.dumps(logged)
    assert party.model_part(fit.job_id).features == ["tax"]
