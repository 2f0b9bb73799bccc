"""A joint-modelling job may name a market dataset only if the dataset's contract allows joint modelling:
otherwise the job is refused when it is created, with the contract's reason, not accepted and left empty."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from fincredit.platform.core.services import Services
from fincredit.platform.market import DatasetTerms, register_contract
from fincredit.platform.metered.joint_lab.seed import PLATFORM_FEATURES, SCOPES, entitle
from fincredit.platform.metered.joint_lab.tables import JointJob
from fincredit.platform.testing.plugin import auth, new_institution, unique

PRODUCTS = ("market.joint_modelling", "market.encrypted_scoring")


def _dataset(services: Services, purposes: list[str]) -> str:
    vendor = new_institution(services, "market_vendor").org_id
    dataset = unique("scf").lower()
    today = dt.date.today()
    with services.tx() as session:
        register_contract(
            session,
            vendor_id=vendor,
            reference=unique("HT"),
            datasets=[DatasetTerms(dataset, "供应链付款行为")],
            allowed_purposes=purposes,
            derived_products_allowed=False,
            resale_allowed=False,
            starts_on=today - dt.timedelta(days=30),
            expires_on=today + dt.timedelta(days=335),
            annual_fee_cny=480_000,
            created_by="test",
        )
    return dataset


def test_a_dataset_whose_contract_forbids_joint_modelling_is_refused_at_creation(
    client: TestClient, services: Services
) -> None:
    bank = new_institution(services, "bank")
    entitle(services, bank.org_id, PRODUCTS)
    dataset = _dataset(services, ["loan_application_assessment"])
    body = {
        "purpose": "SME scorecard",
        "algorithm": "logistic",
        "catalog_items": list(SCOPES),
        "market_datasets": [dataset],
        "platform_features": list(PLATFORM_FEATURES),
    }
    r = client.post("/api/v1/joint-lab/jobs", headers=auth(client, bank), json=body)
    assert r.status_code == 403, r.text
    problem = r.json()
    assert problem["type"] == "/problems/market-use-refused" and problem["reason"] == "purpose-not-allowed"
    assert "joint_modelling" in problem["detail"] and dataset in problem["detail"]
    with services.read() as session:
        assert session.scalar(select(func.count()).where(JointJob.org_id == bank.org_id)) == 0
    allowed = _dataset(services, ["joint_modelling"])
    ok = client.post(
        "/api/v1/joint-lab/jobs", headers=auth(client, bank), json={**body, "market_datasets": [allowed]}
    )
    assert ok.status_code == 201, ok.text


def test_the_contract_each_dataset_is_used_under_goes_to_the_models_lineage(services: Services) -> None:
    """What register_platform_half records beside the feature views: per market dataset, the contract in
    force for joint modelling (id, reference, vendor)."""
    from fincredit.platform.metered.joint_lab import market_contracts

    dataset = _dataset(services, ["joint_modelling"])
    with services.read() as session:
        found = market_contracts(session, [dataset])
    assert set(found) == {dataset}
    assert found[dataset]["reference"].startswith("HT") and found[dataset]["id"].startswith("mc_")
