"""MLflow on SQLite in a temporary directory: log, register, promote, load with the version number."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fincredit.models import ModelNotFoundError, ModelsError, load_catalog
from fincredit.models.tracking import Lineage, Tracking
from fincredit.models.training import predict_scores, train_lightgbm, train_logistic

# The platform owns the default catalog as a data file; models never imports the platform, so its tests read
# that file by path: the generator is tested against the catalog it is really run with.
CATALOG = load_catalog(
    Path(__file__).resolve().parents[2] / "platform/src/fincredit/platform/catalog/default_catalog.toml"
)

pytestmark = pytest.mark.slow  # creating the MLflow schema and importing mlflow take several seconds


@pytest.fixture(scope="module")
def tracking(tmp_path_factory) -> Tracking:
    return Tracking(tmp_path_factory.mktemp("mlflow"))


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(600, 3)), columns=["a", "b", "c"])
    y = (X["a"] + 0.5 * rng.normal(size=600) > 0).to_numpy().astype(int)
    return X, y


def test_store_lives_under_the_given_root(tracking: Tracking) -> None:
    assert tracking.uri.startswith("sqlite:///") and tracking.uri.endswith("mlflow.db")
    assert (tracking.root / "mlflow.db").exists()
    assert tracking.artifact_root == tracking.root / "artifacts"


def test_register_and_load_production_roundtrip_with_version_and_lineage(tracking, data) -> None:
    X, y = data
    model = train_lightgbm(X, y, params={"n_estimators": 20})
    lineage = Lineage(
        catalog_items=["tax_rating", "admin_penalty"],
        market_datasets=["supply_chain_payments"],
        consent_ids=["c-2", "c-1"],
    )
    rec = tracking.log_training_run(
        experiment="score-test",
        model=model,
        params={"n_estimators": 20, "features": ["a", "b", "c"]},
        metrics={"auc": 0.8, "ks": 0.5},
        lineage=lineage,
        register_as="score-test",
        alias="production",
        input_example=X.head(3),
    )
    assert rec.version == 1
    loaded = tracking.load("score-test")
    assert (loaded.version, loaded.alias, loaded.flavor) == (1, "production", "lightgbm")
    np.testing.assert_allclose(predict_scores(loaded.model, X), predict_scores(model, X))
    run = tracking.run(rec.run_id)
    assert run["metrics"] == {"auc": 0.8, "ks": 0.5}
    assert run["params"]["features"] == "a,b,c"
    assert run["tags"]["lineage.catalog_items"] == "admin_penalty,tax_rating"
    assert run["tags"]["lineage.consent_count"] == "2"
    assert tracking.lineage(rec.run_id)["consent_ids"] == ["c-1", "c-2"]
    assert loaded.tags["lineage.market_datasets"] == "supply_chain_payments"


def test_a_new_version_is_served_only_once_promoted(tracking, data) -> None:
    X, y = data
    lr = train_logistic(X, y)
    rec = tracking.log_training_run(experiment="lr-test", model=lr, flavor="sklearn", register_as="lr-test")
    rec2 = tracking.log_training_run(experiment="lr-test", model=lr, flavor="sklearn", register_as="lr-test")
    assert (rec.version, rec2.version) == (1, 2)
    with pytest.raises(ModelNotFoundError):
        tracking.load("lr-test")  # nothing promoted yet
    tracking.set_alias("lr-test", 1)
    assert tracking.load("lr-test").version == 1
    assert tracking.load("lr-test", alias=None).version == 2  # latest
    assert tracking.load("lr-test", version=2).version == 2
    tracking.set_alias("lr-test", 2)
    served = tracking.load("lr-test")
    assert served.version == 2 and served.flavor == "sklearn"
    np.testing.assert_allclose(predict_scores(served.model, X), predict_scores(lr, X))
    assert tracking.versions("lr-test") == [1, 2]


def test_unknown_models_and_bad_arguments_are_refused(tracking) -> None:
    with pytest.raises(ModelNotFoundError):
        tracking.load("no-such-model")
    with pytest.raises(ModelNotFoundError):
        tracking.latest_version("no-such-model")
    with pytest.raises(ModelsError):
        tracking.log_training_run(experiment="x", model=None, alias="production")
    with pytest.raises(ModelsError):
        tracking.log_training_run(experiment="x", model=None, flavor="pytorch")


def test_runs_without_a_model_log_metrics_only(tracking) -> None:
    rec = tracking.log_training_run(experiment="metrics-only", model=None, metrics={"bank_only_auc": 0.7})
    assert rec.model_uri is None and rec.version is None
    assert tracking.run(rec.run_id)["metrics"]["bank_only_auc"] == 0.7


def test_documents_are_stored_with_the_run_for_models_mlflow_has_no_flavor_for(tracking) -> None:
    part = {"model_id": "j-1", "features": ["tax_rating_latest"], "weights": [0.25]}
    rec = tracking.log_training_run(
        experiment="joint-lr",
        model=None,
        metrics={"bank_only_auc": 0.7, "joint_auc": 0.8},
        documents={"platform_part.json": part},
        lineage=Lineage(consent_ids=["c-9"]),
    )
    assert tracking.document(rec.run_id, "platform_part.json") == part


def test_enterprise_score_is_served_with_its_registered_version(tracking) -> None:
    from fincredit.models.credit_score import (
        load_enterprise_score,
        register_enterprise_score,
        train_enterprise_score,
    )
    from fincredit.models.synthetic import generate_city

    city = generate_city(2500, catalog=CATALOG, seed=9)
    feats = city.features()
    trained = train_enterprise_score(feats, city.loans.to_pandas(), params={"n_estimators": 30})
    rec = register_enterprise_score(tracking, trained, name="score-served", consent_ids=["c-1"])
    served = load_enterprise_score(tracking, name="score-served")
    assert served.version == rec.version == trained.version == 1
    assert served.evaluation.auc == pytest.approx(trained.evaluation.auc)
    assert served.score(feats.head(20)).equals(trained.score(feats.head(20)))
    tags = tracking.run(rec.run_id)["tags"]
    assert "tax_rating" in tags["lineage.catalog_items"].split(",")
