"""The joint lab offers the features of the operator's versioned feature views: listed with their
sources and rules, filtered by the scopes a consent covers, computed from the subjects' records for a
job (declarative ones included, without code), and a job that names no scopes asks for its features'."""

from __future__ import annotations

import numpy as np

from fincredit.platform.metered.joint_lab._inputs import offered_views, platform_feature_frame
from fincredit.platform.metered.joint_lab.seed import entitle, seed_joint_setting
from fincredit.platform.subjects import find_subject
from fincredit.platform.testing.plugin import auth, new_institution

PRODUCTS = ("market.joint_modelling", "market.encrypted_scoring")
DECLARATIVE = ["tax_rating_best_3y", "tax_rating_mean_5y", "tax_ratings_c_or_d_5y", "days_since_tax_rating"]


def test_the_offer_lists_every_feature_with_its_sources_and_filters_by_scope(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    headers = auth(client, bank)
    body = client.get("/api/v1/joint-lab/features", headers=headers).json()
    views = offered_views()
    assert body["version"] == views.version and body["digest"] == views.digest
    assert [f["name"] for f in body["features"]] == views.names()
    penalty = next(f for f in body["features"] if f["name"] == "months_since_last_penalty")
    assert penalty["sources"] == ["admin_penalty"] and penalty["aggregation"] == "months_since_latest"
    tax = client.get("/api/v1/joint-lab/features?scope=tax_rating", headers=headers).json()["features"]
    assert {f["name"] for f in tax} == {v.name for v in views.covered_by(["tax_rating"])}
    assert set(DECLARATIVE) <= {f["name"] for f in tax}
    assert client.get("/api/v1/joint-lab/features").status_code == 401


def test_a_job_without_scopes_asks_for_its_features_sources(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    entitle(services, bank.org_id, PRODUCTS)
    headers = auth(client, bank)
    r = client.post(
        "/api/v1/joint-lab/jobs",
        headers=headers,
        json={"purpose": "p", "algorithm": "logistic", "platform_features": ["utility_arrears_count_1y"]},
    )
    assert r.status_code == 201, r.text
    assert r.json()["catalog_items"] == ["electricity_arrears", "gas_arrears", "water_arrears"]
    unknown = client.post(
        "/api/v1/joint-lab/jobs",
        headers=headers,
        json={"purpose": "p", "algorithm": "logistic", "platform_features": ["no_such_feature"]},
    )
    assert unknown.status_code == 422 and "no_such_feature" in unknown.json()["detail"]


def test_declarative_features_are_computed_from_the_subjects_records(services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    setting = seed_joint_setting(services, bank.org_id, n=60, unknown=0, seed=None)
    with services.read() as session:
        subjects = [(find_subject(session, services.keyring, c).id, c) for c in setting.consenting[:40]]
        frame = platform_feature_frame(
            session,
            services,
            subjects=subjects,
            features=["tax_rating_latest", *DECLARATIVE],
            catalog_items=["tax_rating"],
            market_datasets=[],
            purpose="joint_modelling",
        )
    assert list(frame.columns) == ["tax_rating_latest", *DECLARATIVE] and len(frame) == 40
    rated = frame["tax_rating_latest"].notna()
    assert rated.any()
    # The best rating of the last three years is at least the latest one whenever both exist.
    both = rated & frame["tax_rating_best_3y"].notna()
    assert (frame.loc[both, "tax_rating_best_3y"] >= frame.loc[both, "tax_rating_latest"]).all()
    assert (frame["tax_ratings_c_or_d_5y"] >= 0).all() and np.isfinite(frame["tax_ratings_c_or_d_5y"]).all()
    assert (frame.loc[rated, "days_since_tax_rating"] >= 0).all()
